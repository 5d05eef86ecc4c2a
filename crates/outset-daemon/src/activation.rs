//! Socket activation, as `upstart-socket-bridge` had it but inside the daemon's loop: a job
//! whose `start on` or `stop on` names `socket PROTO=inet PORT=N [ADDR=A]`,
//! `PROTO=inet6 PORT=N [ADDR=A]` or `PROTO=unix SOCKET_PATH=P` (`@name`: abstract) has the
//! daemon listen there from load on. A waiting connection emits `socket` with the bridge's
//! variables; the socket is then left alone while the jobs that name it have an instance
//! (the job accepts the connection itself: none is refused or lost), and the job's
//! processes get it as fd 3 (`UPSTART_FDS=3`, `LISTEN_FDS=1`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`). The socket stays open across the job's runs and is closed when no
//! job names it any more.
//!
//! Everything here is plain data (endpoints, jobs, states) beside the fds, so a re-exec can
//! carry it: the fds (inherited without close-on-exec) and, per socket, its endpoint and
//! whether it is held by a running job.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use outset_job::{Arg, Expr, JobConfig};
use outset_sys::activation::Endpoint;
use outset_sys::poll::Poller;
use outset_sys::spawn::SharedFd;

/// A job that stopped with connections still waiting, less than this after the connection
/// that started it, gets the socket back only this long after that connection: a job that
/// fails at once (never accepting) is started at most once a second by one waiting
/// connection, never in a loop.
pub const REARM_PAUSE: Duration = Duration::from_secs(1);

/// An event's variables.
pub type EventEnv = Vec<(String, String)>;

/// A socket as a job's condition names it: where to listen and the event's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    pub endpoint: Endpoint,
    /// `PROTO`, `PORT`, `ADDR` or `PROTO`, `SOCKET_PATH`, as the job wrote them (so its
    /// condition matches the event).
    pub env: Vec<(String, String)>,
}

/// Where the loop is with a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// In the poller (edge-triggered): the next connection emits `socket`.
    Armed,
    /// Out of the poller: a job that names it has an instance, which accepts.
    Held,
    /// Out of the poller until then (`REARM_PAUSE`).
    Paused(Instant),
}

#[derive(Debug)]
pub struct Socket {
    pub spec: SocketSpec,
    /// The jobs whose conditions name it.
    pub jobs: Vec<String>,
    pub fd: Rc<OwnedFd>,
    pub watch: Watch,
    pub token: u64,
    /// When a connection last emitted `socket`.
    pub fired_at: Option<Instant>,
}

/// Every listening socket the jobs name, by endpoint.
#[derive(Debug, Default)]
pub struct Sockets {
    by_endpoint: BTreeMap<Endpoint, Socket>,
    next_token: u64,
    /// Listeners a previous image handed over (re-exec), by endpoint as displayed: the next
    /// `sync` takes them instead of binding again, so no waiting connection is lost.
    handed: BTreeMap<String, OwnedFd>,
}

/// The `socket` operands of a job's `start on` and `stop on`.
fn socket_operands(job: &JobConfig) -> Vec<&[Arg]> {
    fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a [Arg]>) {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::Event(m) if m.name == "socket" => out.push(&m.args),
            Expr::Event(_) | Expr::Ready(_) => {}
        }
    }
    let mut out = Vec::new();
    for e in [&job.start_on, &job.stop_on].into_iter().flatten() {
        walk(e, &mut out);
    }
    out
}

/// A `socket` operand's variables as the bridge read them; why not, in words.
pub fn parse_spec(args: &[Arg]) -> Result<SocketSpec, String> {
    let mut vars: Vec<(&str, &str)> = Vec::new();
    for a in args {
        match a {
            Arg::Eq(k, v) => vars.push((k, v)),
            Arg::Positional(v) => return Err(format!("positional argument `{v}` not supported")),
            Arg::Ne(k, v) => return Err(format!("`{k}!={v}` names no socket")),
        }
    }
    let get = |k: &str| vars.iter().rev().find(|(n, _)| *n == k).map(|(_, v)| *v);
    for (k, v) in &vars {
        if v.contains(['*', '?', '[', '$']) {
            return Err(format!("{k}={v}: a pattern or variable names no socket"));
        }
    }
    let proto = get("PROTO").ok_or("no PROTO")?;
    let inet = |v6: bool| -> Result<SocketSpec, String> {
        let port_s = get("PORT").ok_or("no PORT")?;
        let port: u16 = port_s
            .parse()
            .map_err(|_| format!("PORT={port_s} is not a port"))?;
        let default = if v6 { "::" } else { "0.0.0.0" };
        let addr_s = get("ADDR").unwrap_or(default);
        let ip: std::net::IpAddr = addr_s
            .parse()
            .map_err(|_| format!("ADDR={addr_s} is not an address"))?;
        if ip.is_ipv6() != v6 {
            return Err(format!("ADDR={addr_s} is not an {proto} address"));
        }
        Ok(SocketSpec {
            endpoint: Endpoint::Inet(std::net::SocketAddr::new(ip, port)),
            env: vec![
                ("PROTO".into(), proto.into()),
                ("PORT".into(), port_s.into()),
                ("ADDR".into(), addr_s.into()),
            ],
        })
    };
    match proto {
        "inet" => inet(false),
        "inet6" => inet(true),
        "unix" => {
            // SOCKET_PATH as documented; PATH as the bridge's code also read it.
            let (key, path) = match (get("SOCKET_PATH"), get("PATH")) {
                (Some(p), _) => ("SOCKET_PATH", p),
                (None, Some(p)) => ("PATH", p),
                (None, None) => return Err("no SOCKET_PATH".into()),
            };
            let endpoint = match path.strip_prefix('@') {
                Some(name) if !name.is_empty() => Endpoint::UnixAbstract(name.as_bytes().to_vec()),
                Some(_) => return Err("an empty abstract name".into()),
                None if path.starts_with('/') => Endpoint::UnixPath(path.into()),
                None => return Err(format!("{key}={path} is not absolute")),
            };
            Ok(SocketSpec {
                endpoint,
                env: vec![("PROTO".into(), "unix".into()), (key.into(), path.into())],
            })
        }
        other => Err(format!("unknown PROTO={other}")),
    }
}

/// Every socket the jobs name, with the jobs naming each; bad operands are logged.
pub fn wanted(jobs: &[JobConfig]) -> BTreeMap<Endpoint, (SocketSpec, Vec<String>)> {
    let mut out: BTreeMap<Endpoint, (SocketSpec, Vec<String>)> = BTreeMap::new();
    for job in jobs {
        for args in socket_operands(job) {
            match parse_spec(args) {
                Ok(spec) => {
                    let entry = out
                        .entry(spec.endpoint.clone())
                        .or_insert_with(|| (spec, Vec::new()));
                    if !entry.1.contains(&job.name) {
                        entry.1.push(job.name.clone());
                    }
                }
                Err(e) => log::warn!("{}: `socket` event ignored: {e}", job.name),
            }
        }
    }
    out
}

impl Sockets {
    /// Opens the sockets the jobs now name and closes those no job names any more; a
    /// socket kept keeps its fd (and its connections). `token0` plus a number is each
    /// socket's poller token.
    pub fn sync(&mut self, jobs: &[JobConfig], poller: &Poller, token0: u64) {
        let wanted = wanted(jobs);
        let gone: Vec<Endpoint> = self
            .by_endpoint
            .keys()
            .filter(|e| !wanted.contains_key(*e))
            .cloned()
            .collect();
        for e in gone {
            if let Some(s) = self.by_endpoint.remove(&e) {
                log::info!("closing {e}: no job names it any more");
                if s.watch == Watch::Armed {
                    let _ = poller.delete(s.fd.as_fd());
                }
                if let Endpoint::UnixPath(p) = &e {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        for (endpoint, (spec, jobs)) in wanted {
            if let Some(s) = self.by_endpoint.get_mut(&endpoint) {
                s.jobs = jobs;
                s.spec = spec;
                continue;
            }
            let handed = self.handed.remove(&endpoint.to_string());
            let kept = handed.is_some();
            let fd = match handed.map_or_else(|| outset_sys::activation::listen(&endpoint), Ok) {
                Ok(fd) => fd,
                Err(e) => {
                    log::error!("{}: cannot listen on {endpoint}: {e}", jobs.join(", "));
                    continue;
                }
            };
            self.next_token += 1;
            let token = token0 + self.next_token;
            if let Err(e) = poller.add_edge(fd.as_fd(), token) {
                log::error!("cannot watch {endpoint}: {e}");
                continue;
            }
            if kept {
                log::info!("kept {endpoint} across the re-exec for {}", jobs.join(", "));
            } else {
                log::info!("listening on {endpoint} for {}", jobs.join(", "));
            }
            self.by_endpoint.insert(
                endpoint,
                Socket {
                    spec,
                    jobs,
                    fd: Rc::new(fd),
                    watch: Watch::Armed,
                    token,
                    fired_at: None,
                },
            );
        }
    }

    /// Every listener, by endpoint as displayed, for a re-exec.
    pub fn export(&self) -> Vec<(String, i32)> {
        self.by_endpoint
            .iter()
            .map(|(e, s)| (e.to_string(), s.fd.as_raw_fd()))
            .collect()
    }

    /// The listeners' descriptors, to keep open across a re-exec.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.by_endpoint.values().map(|s| s.fd.as_fd())
    }

    /// A listener the previous image handed over, taken by the next `sync` (closed after
    /// it when no job names its endpoint any more).
    pub fn hand_over(&mut self, endpoint: String, fd: OwnedFd) {
        self.handed.insert(endpoint, fd);
    }

    /// Closes handed-over listeners that `sync` did not take.
    pub fn drop_unclaimed(&mut self) {
        for (endpoint, _) in std::mem::take(&mut self.handed) {
            log::info!("closing {endpoint} handed over by the previous image: no job names it");
        }
    }

    /// The socket behind a poller token.
    fn by_token(&mut self, token: u64) -> Option<&mut Socket> {
        self.by_endpoint.values_mut().find(|s| s.token == token)
    }

    /// A connection waits on the socket of `token`: the `socket` event's variables, and
    /// the jobs that name it (to hold the socket while one of them runs). `None` for a
    /// socket that is not armed (a wake-up left from before it was held).
    pub fn fired(&mut self, token: u64) -> Option<(EventEnv, Vec<String>)> {
        let s = self.by_token(token)?;
        if s.watch != Watch::Armed {
            return None;
        }
        s.fired_at = Some(Instant::now());
        Some((s.spec.env.clone(), s.jobs.clone()))
    }

    /// A job that names the socket of `token` runs: the socket leaves the poller until no
    /// job that names it has an instance.
    pub fn hold(&mut self, token: u64, poller: &Poller) {
        if let Some(s) = self.by_token(token)
            && s.watch == Watch::Armed
        {
            let _ = poller.delete(s.fd.as_fd());
            s.watch = Watch::Held;
        }
    }

    /// Whether any socket is out of the poller (the loop then checks `rearm` each turn).
    pub fn any_held(&self) -> bool {
        self.by_endpoint.values().any(|s| s.watch != Watch::Armed)
    }

    /// When a paused socket is due back.
    pub fn next_wake(&self) -> Option<Instant> {
        self.by_endpoint
            .values()
            .filter_map(|s| match s.watch {
                Watch::Paused(at) => Some(at),
                Watch::Armed | Watch::Held => None,
            })
            .min()
    }

    /// Puts back into the poller each held socket none of whose jobs has an instance
    /// (`running(job)`), after `REARM_PAUSE` when connections were left waiting.
    pub fn rearm(&mut self, running: impl Fn(&str) -> bool, poller: &Poller) {
        let now = Instant::now();
        for (endpoint, s) in &mut self.by_endpoint {
            match s.watch {
                Watch::Armed => continue,
                Watch::Held if s.jobs.iter().any(|j| running(j)) => continue,
                Watch::Held
                    if s.fired_at.is_some_and(|t| now < t + REARM_PAUSE)
                        && outset_sys::activation::pending(s.fd.as_fd()) =>
                {
                    let at = s.fired_at.map_or(now, |t| t + REARM_PAUSE);
                    log::warn!(
                        "{endpoint}: {} stopped at once with connections waiting; watching again in {} ms",
                        s.jobs.join(", "),
                        at.saturating_duration_since(now).as_millis()
                    );
                    s.watch = Watch::Paused(at);
                    continue;
                }
                Watch::Paused(at) if at > now => continue,
                Watch::Held | Watch::Paused(_) => {}
            }
            match poller.add_edge(s.fd.as_fd(), s.token) {
                Ok(()) => s.watch = Watch::Armed,
                Err(e) => log::error!("cannot watch {endpoint}: {e}"),
            }
        }
    }

    /// The socket a job process gets: the one whose event variables its environment holds
    /// (the instance was started by that `socket` event), with its name for
    /// `LISTEN_FDNAMES`.
    pub fn for_env(&self, env: &[(String, String)]) -> Option<SharedFd> {
        let has = |k: &str, v: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, x)| x.as_str())
                == Some(v)
        };
        self.by_endpoint
            .values()
            .find(|s| s.spec.env.iter().all(|(k, v)| has(k, v)))
            .map(|s| SharedFd(s.fd.clone()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(s: &str) -> Vec<Arg> {
        let job = outset_job::parse_job("t", &format!("start on socket {s}")).unwrap();
        match job.start_on.unwrap() {
            Expr::Event(m) => m.args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn issue17_item1_socket_operands_as_the_bridge_read_them() {
        let s = parse_spec(&args("PROTO=inet PORT=631 ADDR=127.0.0.1")).unwrap();
        assert_eq!(s.endpoint, Endpoint::Inet("127.0.0.1:631".parse().unwrap()));
        assert_eq!(
            s.env,
            [
                ("PROTO".to_string(), "inet".to_string()),
                ("PORT".into(), "631".into()),
                ("ADDR".into(), "127.0.0.1".into())
            ]
        );
        // No ADDR: any address, and the event says which (as inet_ntoa did).
        let s = parse_spec(&args("PROTO=inet PORT=80")).unwrap();
        assert_eq!(s.endpoint, Endpoint::Inet("0.0.0.0:80".parse().unwrap()));
        assert_eq!(s.env[2], ("ADDR".into(), "0.0.0.0".into()));
        let s = parse_spec(&args("PROTO=inet6 PORT=80 ADDR=::1")).unwrap();
        assert_eq!(s.endpoint, Endpoint::Inet("[::1]:80".parse().unwrap()));
        let s = parse_spec(&args("PROTO=unix SOCKET_PATH=/run/cups/cups.sock")).unwrap();
        assert_eq!(s.endpoint, Endpoint::UnixPath("/run/cups/cups.sock".into()));
        assert_eq!(
            s.env[1],
            ("SOCKET_PATH".into(), "/run/cups/cups.sock".into())
        );
        let s = parse_spec(&args("PROTO=unix SOCKET_PATH=@/at/upstart/example")).unwrap();
        assert_eq!(
            s.endpoint,
            Endpoint::UnixAbstract(b"/at/upstart/example".to_vec())
        );
        for (bad, why) in [
            ("PROTO=inet", "no PORT"),
            ("PORT=80", "no PROTO"),
            ("PROTO=inet PORT=http", "not a port"),
            ("PROTO=inet PORT=80 ADDR=::1", "not an inet address"),
            ("PROTO=inet PORT=8*", "pattern"),
            ("PROTO=unix", "no SOCKET_PATH"),
            ("PROTO=unix SOCKET_PATH=rel.sock", "not absolute"),
            ("PROTO=udp PORT=1", "unknown PROTO"),
        ] {
            let e = parse_spec(&args(bad)).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn issue17_item1_jobs_sharing_a_socket_and_the_env_that_picks_it() {
        let jobs = vec![
            outset_job::parse_job("a", "start on socket PROTO=inet PORT=0 ADDR=127.0.0.1")
                .unwrap(),
            outset_job::parse_job(
                "b",
                "start on startup or socket PROTO=inet PORT=0 ADDR=127.0.0.1\nstop on socket PROTO=unix SOCKET_PATH=@outset-t",
            )
            .unwrap(),
            outset_job::parse_job("c", "start on socket PROTO=inet PORT=x").unwrap(),
        ];
        let w = wanted(&jobs);
        assert_eq!(w.len(), 2);
        let (_, names) = &w[&Endpoint::Inet("127.0.0.1:0".parse().unwrap())];
        assert_eq!(names, &["a", "b"]);
    }

    /// The loop's side without a daemon: an edge-triggered wake per new connection, none
    /// while a connection waits unanswered, none while held, and back (at once, with the
    /// waiting connection reported) once the jobs are gone, after the pause when the job
    /// stopped at once.
    #[test]
    fn issue17_item1_watch_hold_and_rearm() {
        let jobs = vec![
            outset_job::parse_job("a", "start on socket PROTO=inet PORT=0 ADDR=127.0.0.1").unwrap(),
        ];
        let poller = Poller::new().unwrap();
        let mut sockets = Sockets::default();
        sockets.sync(&jobs, &poller, 100);
        let (token, port) = {
            let s = sockets.by_endpoint.values().next().unwrap();
            let addr = outset_sys::activation::local_addr(s.fd.as_fd())
                .unwrap()
                .unwrap();
            (s.token, addr.port())
        };
        let wait = |ms| {
            let mut out = Vec::new();
            poller
                .wait(&mut out, Some(Duration::from_millis(ms)))
                .unwrap();
            out
        };
        assert!(wait(50).is_empty());
        let _c1 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(wait(5000), [token]);
        let (env, names) = sockets.fired(token).unwrap();
        assert_eq!(env[0], ("PROTO".into(), "inet".into()));
        assert_eq!(names, ["a"]);
        // No job took it: still watched, but the waiting connection does not wake again.
        assert!(wait(100).is_empty());
        let _c2 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(wait(5000), [token]);
        sockets.fired(token).unwrap();
        // A job runs: held, no wake for new connections.
        sockets.hold(token, &poller);
        assert!(sockets.any_held());
        assert!(sockets.fired(token).is_none());
        let _c3 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert!(wait(100).is_empty());
        sockets.rearm(|_| true, &poller);
        assert!(wait(100).is_empty(), "held while the job has an instance");
        // The job stopped at once with connections waiting: paused, then back.
        sockets.rearm(|_| false, &poller);
        assert!(sockets.next_wake().is_some());
        assert!(wait(100).is_empty());
        std::thread::sleep(REARM_PAUSE);
        sockets.rearm(|_| false, &poller);
        assert!(!sockets.any_held());
        assert_eq!(wait(5000), [token], "the waiting connections are reported");
        // No job names it any more: closed.
        sockets.sync(&[], &poller, 100);
        assert!(sockets.by_endpoint.is_empty());
    }
}
