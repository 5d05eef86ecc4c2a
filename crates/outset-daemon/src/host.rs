//! The engine's effects carried out on Linux: spawning into cgroups, signals through pidfds,
//! replies to waiting clients.

use std::collections::HashMap;

use outset_engine::{Effects, InstanceId, Probe, ReplyToken, SpawnFailure, SpawnSpec};
use outset_job::Signal;
use outset_proto::Response;

use crate::conn::Conns;
use crate::ptrace_track::PtraceTrack;
use crate::spawn;
use crate::tracker::Tracker;

pub struct Host {
    pub tracker: Tracker,
    /// Each `expect notify` instance's NOTIFY_SOCKET.
    pub notify: HashMap<InstanceId, outset_sys::notify::NotifySocket>,
    /// Notify sockets made since the loop last looked (it adds them to its poller).
    pub new_notify: Vec<InstanceId>,
    pub user_mode: bool,
    /// Open control connections by epoll token.
    pub conns: Conns,
    /// `show-config` replies whose jobs' texts the caller may not read: job name → why.
    pub withheld: HashMap<u64, HashMap<String, String>>,
    /// Which connection each outstanding reply goes to.
    pub routes: HashMap<u64, u64>,
    /// `track ptrace` jobs' processes followed until their main PID is known.
    pub ptrace: PtraceTrack,
    /// `FDSTORE=1` (not supported: its fds are closed) was reported.
    pub fdstore_warned: bool,
    /// Where spawned children report a failure before exec, so a spawn never waits for
    /// the child to run (`None`: the pipe could not be made; spawns then wait).
    pub spawn_reports: Option<outset_sys::spawn::FailureReports>,
    /// Children that reported a failure and are not reaped yet, with the failure.
    pub spawn_failures: HashMap<u32, String>,
}

impl Host {
    pub fn new(tracker: Tracker, user_mode: bool) -> Host {
        Host {
            tracker,
            notify: HashMap::new(),
            new_notify: Vec::new(),
            user_mode,
            conns: Conns::new(1 << 32, 1024),
            withheld: HashMap::new(),
            routes: HashMap::new(),
            ptrace: PtraceTrack::new(),
            fdstore_warned: false,
            spawn_reports: match outset_sys::spawn::FailureReports::new() {
                Ok(r) => Some(r),
                Err(e) => {
                    log::warn!("no spawn report pipe ({e}); each spawn waits for its exec");
                    None
                }
            },
            spawn_failures: HashMap::new(),
        }
    }

    /// Takes the failures children have reported so far; each is handed to the engine when
    /// its child is reaped (the child reports before it exits).
    pub fn collect_spawn_failures(&mut self) {
        let Some(reports) = &mut self.spawn_reports else {
            return;
        };
        for f in reports.take() {
            log::debug!("{f}");
            self.spawn_failures.insert(f.pid, f.to_string());
        }
    }

    /// Waits until every process spawned so far has exec'd (or failed): a client told that
    /// a job runs, or shown its command lines, sees the job's program and not a copy of the
    /// daemon on its way to exec. One wait covers a whole batch of spawns.
    fn wait_exec(&mut self) {
        if let Some(reports) = &mut self.spawn_reports
            && reports.pending()
            && let Err(e) = reports.wait_exec()
        {
            log::warn!("waiting for spawned processes to exec: {e}");
        }
    }

    /// Waits at the exec barrier for every process spawned so far, then hands over every
    /// failure their children reported, by PID, for `Engine::spawn_failed`.
    pub fn exec_barrier(&mut self) -> Vec<(u32, String)> {
        self.wait_exec();
        self.collect_spawn_failures();
        let mut failed: Vec<(u32, String)> = self.spawn_failures.drain().collect();
        failed.sort_unstable();
        failed
    }

    /// A reported failure the engine did not take: handed over again when its child is
    /// reaped.
    pub fn keep_spawn_failure(&mut self, pid: u32, error: String) {
        self.spawn_failures.insert(pid, error);
    }

    /// Writes a reply line to the connection behind `token`.
    pub fn send(&mut self, token: ReplyToken, response: &Response) {
        self.wait_exec();
        let withheld = self.withheld.remove(&token.0);
        let Some(conn_id) = self.routes.remove(&token.0) else {
            log::debug!("reply {} has no client any more", token.0);
            return;
        };
        let redacted;
        let response = match withheld {
            Some(hidden) => {
                redacted = crate::access::withhold(response, &hidden);
                &redacted
            }
            None => response,
        };
        let line = match serde_json::to_string(response) {
            Ok(l) => l,
            Err(e) => {
                log::error!("cannot encode a reply: {e}");
                r#"{"status":"error","message":"internal error: reply not encodable"}"#.into()
            }
        };
        if let Some(conn) = self.conns.get_mut(&conn_id) {
            conn.pending = conn.pending.saturating_sub(1);
            conn.send(&line);
        }
    }
}

impl Effects for Host {
    fn spawn(&mut self, inst: InstanceId, spec: &SpawnSpec) -> Result<u32, SpawnFailure> {
        if let Err(e) = self.tracker.create(inst, &spec.job, &spec.instance) {
            // Tracking falls back to the process group; the job still runs.
            log::warn!("{}: {e}; tracking by process group", spec.job);
        }
        let cgroup = self.tracker.cgroup_path(inst);
        let mut with_socket;
        let spec = if spec.notify {
            // Made before the fork, so the job can never send before it exists.
            if let std::collections::hash_map::Entry::Vacant(slot) = self.notify.entry(inst) {
                // A random name: a predictable one could be bound first by any local user.
                let socket = outset_sys::notify::NotifySocket::bind_random("outset/notify")
                    .map_err(|e| SpawnFailure::Retry(format!("notify socket: {e}")))?;
                slot.insert(socket);
                self.new_notify.push(inst);
            }
            with_socket = spec.clone();
            if let Some(s) = self.notify.get(&inst) {
                with_socket.env.push(("NOTIFY_SOCKET".into(), s.address()));
            }
            &with_socket
        } else {
            spec
        };
        let spawned = spawn::spawn(
            spec,
            cgroup.as_deref(),
            self.user_mode,
            self.spawn_reports.as_mut(),
        )?;
        // A pidfd per job process would make every later spawn copy and close it; the
        // tracker opens one whenever it signals (see tracker.rs).
        drop(spawned.pidfd);
        self.tracker.adopt(inst, spawned.pid);
        if spec.ptrace {
            if let Err(e) = self.ptrace.start(inst, spawned.pid) {
                log::warn!("{}: {e}; tracking without ptrace", spec.job);
            }
            // It stops itself to be seized. SIGCONT ends that group-stop whether or not it
            // has begun (a later SIGSTOP is dropped by the tracer), so it cannot come back
            // once the process is detached; untraced, it simply runs on.
            if let Err(e) = self.tracker.signal(spawned.pid, Signal::CONT.0, false) {
                log::error!("{}: cannot continue process {}: {e}", spec.job, spawned.pid);
            }
        }
        Ok(spawned.pid)
    }

    fn signal(&mut self, _inst: InstanceId, pid: u32, sig: Signal, group: bool) {
        if let Err(e) = self.tracker.signal(pid, sig.0, group) {
            log::warn!("cannot signal process {pid}: {e}");
        }
    }

    fn kill_all(&mut self, inst: InstanceId) {
        self.tracker.kill_all(inst);
    }

    fn instance_removed(&mut self, inst: InstanceId) {
        // Closing the socket also takes it out of the poller.
        self.notify.remove(&inst);
        self.ptrace.instance_removed(inst);
        self.tracker.remove(inst);
    }

    fn reply(&mut self, token: ReplyToken, response: Response) {
        self.send(token, &response);
    }
}

/// The engine's reads: which of it to trust is the engine's decision (see docs/engine.md).
impl Probe for Host {
    fn processes(&mut self, inst: InstanceId) -> Result<Vec<u32>, String> {
        self.tracker.processes(inst)
    }

    fn read_pid_file(&mut self, path: &str) -> Result<u32, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        text.split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| "does not start with a PID".to_string())
    }

    fn describe(&mut self, pids: &[u32]) -> Vec<(u32, String)> {
        self.wait_exec();
        pids.iter()
            .map(|&pid| (pid, outset_sys::procfs::cmdline(pid).unwrap_or_default()))
            .collect()
    }
}
