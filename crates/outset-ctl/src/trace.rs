//! `outsetctl trace -- CMD ARGS…`: runs a command under the ptrace tracer, prints what its
//! processes did, and recommends the `expect` stanza that matches how it starts.
//!
//! The recommendation follows outset's exit tracking: count the processes of the launch
//! chain (the launched process and the daemon's other ancestors) that exited before the
//! daemon was left alone. Helpers that are not ancestors of the daemon do not count.
//!
//! On top of `expect` it recommends what the trace showed about readiness: `expect notify`
//! for a launched process that stays and sends READY=1, `ready on listening …` for a socket
//! that opened only after the launcher exited (outset would call the job running too early),
//! and `pid file …` when a pid file named in the arguments names the daemon.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use outset_trace::{
    EventKind, ExitStatus, LeftProcess, ListenProto, ListenSeen, NotifyMessage, TraceEnd,
    TraceOptions, TraceReport, status_text,
};
use serde_json::{Value, json};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceArgs {
    pub argv: Vec<String>,
    pub timeout: Duration,
    pub keep: bool,
    pub json: bool,
    /// `--ready SOURCE`: a readiness source the user wants watched.
    pub ready: Option<String>,
    /// `--cgroup-root DIR`: where the trace's cgroup goes (default: the cgroup2 mount).
    pub cgroup_root: Option<PathBuf>,
}

/// Parses `--ready SOURCE` with the job-file grammar of `ready on`; one source only.
fn parse_ready(src: &str) -> Result<outset_job::ReadySource, String> {
    let mut job = outset_job::parse_job("trace", &format!("ready on {src}\n"))
        .map_err(|e| format!("--ready: {}", e.message))?;
    match job.ready_on.take() {
        Some(outset_job::Expr::Ready(s)) => Ok(s),
        _ => Err(format!(
            "--ready: expected one readiness source (file PATH, listening …), not {src:?}"
        )),
    }
}

/// When the source the user named held: for a socket, when the trace first saw it; for a
/// file, whether it exists once the trace is over.
fn ready_seen(src: &outset_job::ReadySource, report: &TraceReport) -> Option<String> {
    match src {
        outset_job::ReadySource::Listening(want) => {
            let (proto, port, path) = match want {
                outset_job::ListenAddr::Tcp { port, .. } => ("tcp", *port, None),
                outset_job::ListenAddr::Udp { port, .. } => ("udp", *port, None),
                outset_job::ListenAddr::Unix(p) => ("unix", 0, Some(p.as_str())),
            };
            report
                .listening
                .iter()
                .find(|l| {
                    l.addr.proto.as_str() == proto
                        && match path {
                            Some(p) => l.addr.path == p,
                            None => l.addr.port == port,
                        }
                })
                .map(|l| format!("at {} ms, held by {} {}", l.at.as_millis(), l.pid, l.name))
        }
        outset_job::ReadySource::File(path) => (report.files_at_end.contains_key(Path::new(path))
            || Path::new(path).exists())
        .then(|| "the file existed when tracing stopped".to_string()),
        outset_job::ReadySource::Dbus(_) => None,
    }
}

/// Which kind of start-up the trace showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One launch-chain process exited: `expect fork`.
    Fork,
    /// Two: `expect daemon`.
    Daemon,
    /// N ≥ 3: `expect exit N`.
    Exit(usize),
    /// The launched process is still running and sent READY=1: `expect notify`.
    Notify,
    /// The launched process is still running: it is the main process, no `expect`.
    Foreground,
    /// Exited 0 and left nothing: a task.
    Task,
    /// The launched process failed.
    Failed(String),
    /// The command is a ptrace user (strace, gdb, …) and cannot be traced.
    Ptrace(String),
}

/// A pid file named on the command line and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    pub path: PathBuf,
    pub pid: Option<u32>,
    pub names_daemon: bool,
}

/// The summary and recommendation drawn from a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The oldest process left (or the launcher while it runs).
    pub daemon: Option<LeftProcess>,
    /// Launch-chain processes (ancestors of the daemon) that exited, launcher first.
    pub chain_exits: Vec<(u32, ExitStatus)>,
    pub verdict: Verdict,
    pub pid_files: Vec<PidFile>,
    /// The first READY=1 on the trace's NOTIFY_SOCKET.
    pub ready: Option<NotifyMessage>,
    /// The last MAINPID= sent.
    pub mainpid: Option<u32>,
    /// The listening socket to wait for: it appeared after the launcher exited.
    pub ready_listen: Option<ListenSeen>,
}

impl Analysis {
    /// The stanza to put in the job file, if any.
    pub fn stanza(&self) -> Option<String> {
        match &self.verdict {
            Verdict::Fork => Some("expect fork".into()),
            Verdict::Daemon => Some("expect daemon".into()),
            Verdict::Exit(n) => Some(format!("expect exit {n}")),
            Verdict::Notify => Some("expect notify".into()),
            Verdict::Task => Some("task".into()),
            Verdict::Foreground | Verdict::Failed(_) | Verdict::Ptrace(_) => None,
        }
    }

    /// Every stanza to put in the job file, the `expect` (or `task`) line first.
    pub fn stanzas(&self) -> Vec<String> {
        let mut out: Vec<String> = self.stanza().into_iter().collect();
        if let Some(l) = &self.ready_listen {
            out.push(format!("ready on listening {}", l.addr.spec()));
        }
        if let Some(pf) = self.pid_file() {
            out.push(format!("pid file {}", pf.path.display()));
        }
        out
    }

    /// The pid file to recommend: one that names the daemon, for a job whose main process
    /// outset finds by counting forks (a foreground or notifying process is known anyway).
    pub fn pid_file(&self) -> Option<&PidFile> {
        let forking = matches!(
            self.verdict,
            Verdict::Fork | Verdict::Daemon | Verdict::Exit(_)
        );
        self.pid_files
            .iter()
            .find(|p| p.names_daemon)
            .filter(|_| forking)
    }

    /// The recommendation lines: each stanza, or one line saying why there is none.
    pub fn recommend_lines(&self) -> Vec<String> {
        let stanzas = self.stanzas();
        match &self.verdict {
            Verdict::Foreground => {
                let mut v = vec![self.recommend_line()];
                v.extend(stanzas);
                v
            }
            _ if stanzas.is_empty() => vec![self.recommend_line()],
            _ => stanzas,
        }
    }

    /// The reasons, one sentence for each recommendation line.
    pub fn reasons(&self, report: &TraceReport, cmd: &str) -> Vec<String> {
        let mut out = vec![self.reason(report, cmd)];
        if let Some(r) = &self.ready
            && matches!(
                self.verdict,
                Verdict::Fork | Verdict::Daemon | Verdict::Exit(_)
            )
        {
            out.push(format!(
                "process {} also sent READY=1 at {} ms, but the launched process exited, so \
                 outset tracks the daemon by counting forks.",
                r.pid,
                r.at.as_millis()
            ));
        }
        if let Some(l) = &self.ready_listen {
            let after = match report.launcher_exit_at() {
                Some(t) => format!("after the launched process exited at {} ms", t.as_millis()),
                None => "after the process started".into(),
            };
            out.push(format!(
                "{} {} began listening on {} at {} ms, {after}: the daemon is ready later \
                 than that, so outset should wait for the socket.",
                l.pid,
                l.name,
                l.addr.spec(),
                l.at.as_millis()
            ));
        }
        if let Some(pf) = self.pid_file() {
            let pid = pf.pid.map(|p| p.to_string()).unwrap_or_default();
            out.push(format!(
                "the pid file {} names the daemon ({pid}), so outset can check the main \
                 process it found against it.",
                pf.path.display()
            ));
        }
        out
    }

    /// One line for the recommendation (the `expect` line, or why there is none).
    pub fn recommend_line(&self) -> String {
        match &self.verdict {
            Verdict::Foreground => "no expect stanza (foreground)".into(),
            Verdict::Failed(_) => "none: the command failed".into(),
            Verdict::Ptrace(_) => "none: the command uses ptrace".into(),
            _ => self.stanza().unwrap_or_default(),
        }
    }

    /// The reason, in one sentence.
    pub fn reason(&self, report: &TraceReport, cmd: &str) -> String {
        let links = self
            .chain_exits
            .iter()
            .map(|(p, s)| format!("{p} exit {}", status_text(*s)))
            .collect::<Vec<_>>()
            .join(", ");
        let daemon = self
            .daemon
            .as_ref()
            .map(|d| format!("{} ({})", d.pid, d.name))
            .unwrap_or_default();
        match &self.verdict {
            Verdict::Fork | Verdict::Daemon | Verdict::Exit(_) => format!(
                "the launched process exited 0 and {} process(es) of the launch chain exited \
                 before the daemon {daemon} was left ({links}).",
                self.chain_exits.len()
            ),
            Verdict::Notify => {
                let (pid, at) = self
                    .ready
                    .as_ref()
                    .map(|r| (r.pid, r.at.as_millis()))
                    .unwrap_or_default();
                let main = self
                    .mainpid
                    .map(|m| format!(" with MAINPID={m}"))
                    .unwrap_or_default();
                format!(
                    "the launched process {daemon} was still running and process {pid} sent \
                     READY=1{main} on NOTIFY_SOCKET at {at} ms: it supports sd_notify, so \
                     outset can wait for READY=1."
                )
            }
            Verdict::Foreground => format!(
                "the launched process {daemon} was still running when tracing stopped, so it \
                 is the main process itself: run it in the foreground with no expect stanza."
            ),
            Verdict::Task => "the command exited 0 and left no process behind: it is a task, \
                              not a service."
                .into(),
            Verdict::Failed(status) => {
                let seen = if report.stderr.trim().is_empty() {
                    "it wrote nothing to stderr"
                } else {
                    "see its stderr"
                };
                format!(
                    "the launched process {} exited with status {status} ({seen}): fix the \
                     command before choosing an expect stanza.",
                    report.launcher
                )
            }
            Verdict::Ptrace(tool) => {
                let via = if tool == cmd {
                    String::new()
                } else {
                    format!(" (it runs {tool})")
                };
                format!(
                    "{cmd} uses ptrace itself{via}; tracing it under ptrace is not possible: \
                     run it as a job, outset tracks it by cgroup without ptrace."
                )
            }
        }
    }
}

/// Draws the summary and recommendation from `report`; `argv` is the traced command.
pub fn analyse(report: &TraceReport, argv: &[String]) -> Analysis {
    let launcher_left = report.left.iter().find(|p| p.pid == report.launcher);
    let daemon = launcher_left.or_else(|| report.left.first()).cloned();
    let exits: std::collections::BTreeMap<u32, ExitStatus> = report
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Exit { status } => Some((e.pid, status)),
            _ => None,
        })
        .collect();
    let mut chain_exits = Vec::new();
    if let Some(d) = &daemon {
        let mut cur = d.pid;
        // Bounded walk up the fork tree the tracer saw.
        for _ in 0..4096 {
            let Some(&parent) = report.parents.get(&cur) else {
                break;
            };
            if let Some(&st) = exits.get(&parent) {
                chain_exits.push((parent, st));
            }
            if parent == report.launcher {
                break;
            }
            cur = parent;
        }
        chain_exits.reverse();
    }
    let verdict = if let Some(tool) = &report.uses_ptrace {
        Verdict::Ptrace(tool.clone())
    } else {
        match report.launcher_exit {
            None if report.ready().is_some() => Verdict::Notify,
            None => Verdict::Foreground,
            Some(st) if !st.success() => Verdict::Failed(status_text(st)),
            Some(_) if daemon.is_none() => Verdict::Task,
            Some(_) => match chain_exits.len() {
                0 | 1 => Verdict::Fork,
                2 => Verdict::Daemon,
                n => Verdict::Exit(n),
            },
        }
    };
    let pid_files = pid_file_paths(argv)
        .into_iter()
        .map(|path| {
            // As the file was when tracing stopped (the daemon removes it when it is ended),
            // else as it is now.
            let text = match report.files_at_end.get(&path) {
                Some(t) => Some(t.clone()),
                None => std::fs::read_to_string(&path).ok(),
            };
            let pid = text.and_then(|t| t.split_whitespace().next().and_then(|w| w.parse().ok()));
            let names_daemon = pid.is_some() && pid == daemon.as_ref().map(|d| d.pid);
            PidFile {
                path,
                pid,
                names_daemon,
            }
        })
        .collect();
    let ready_listen = match verdict {
        Verdict::Fork | Verdict::Daemon | Verdict::Exit(_) | Verdict::Foreground => {
            late_listener(report)
        }
        _ => None,
    };
    Analysis {
        daemon,
        chain_exits,
        verdict,
        pid_files,
        ready: report.ready().cloned(),
        mainpid: report.mainpid(),
        ready_listen,
    }
}

/// The pid files the command names: in its arguments, or in nginx's configuration.
fn pid_file_paths(argv: &[String]) -> Vec<PathBuf> {
    let mut paths = pid_file_args(argv);
    if let Some(p) = nginx_pid_file(argv)
        && !paths.contains(&p)
    {
        paths.push(p);
    }
    paths
}

/// The listening socket that opened last after the launched process exited (or at all,
/// while it runs), TCP before UDP before unix: the last to open is when the daemon serves.
fn late_listener(report: &TraceReport) -> Option<ListenSeen> {
    let since = report.launcher_exit_at().unwrap_or(Duration::ZERO);
    let late: Vec<&ListenSeen> = report
        .listening
        .iter()
        .filter(|l| report.launcher_exit.is_none() || l.at > since)
        .collect();
    [ListenProto::Tcp, ListenProto::Udp, ListenProto::Unix]
        .iter()
        .find_map(|proto| {
            late.iter()
                .filter(|l| l.addr.proto == *proto)
                .max_by_key(|l| l.at)
        })
        .map(|l| (*l).clone())
}

/// Pid files named in the arguments (`--pidfile X`, `--pid-file=X`, `-P X`, `pid X`,
/// `pidfile X`, and `-i X` for rsyslogd), also inside `sh -c` scripts, which are split on
/// whitespace.
pub fn pid_file_args(argv: &[String]) -> Vec<PathBuf> {
    let rsyslogd = argv
        .iter()
        .flat_map(|a| a.split_whitespace())
        .any(|t| Path::new(t).file_name().is_some_and(|n| n == "rsyslogd"));
    let tokens: Vec<&str> = argv
        .iter()
        .skip(1)
        .flat_map(|a| a.split_whitespace())
        .map(|t| t.trim_matches(|c| c == '"' || c == '\'' || c == ';'))
        .collect();
    let mut out: Vec<PathBuf> = Vec::new();
    let mut it = tokens.iter().peekable();
    while let Some(t) = it.next() {
        let value = match *t {
            "--pidfile" | "--pid-file" | "-pidfile" | "-P" | "pid" | "pidfile" | "--pid" => {
                it.peek().map(|v| v.to_string())
            }
            "-i" if rsyslogd => it.peek().map(|v| v.to_string()),
            _ => ["--pidfile=", "--pid-file=", "--pid="]
                .iter()
                .find_map(|p| t.strip_prefix(p))
                .map(str::to_string),
        };
        if let Some(v) = value
            && !v.is_empty()
            && !v.starts_with('-')
        {
            let p = PathBuf::from(v);
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// nginx names its pid file in its configuration (`-c CONF`, `pid PATH;`, relative to the
/// `-p` prefix), not in its arguments, and it is the most common forking daemon.
pub fn nginx_pid_file(argv: &[String]) -> Option<PathBuf> {
    let prog = argv.first()?;
    if Path::new(prog).file_name()? != "nginx" {
        return None;
    }
    let after = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
    };
    let conf = std::fs::read_to_string(after("-c")?).ok()?;
    let mut words = conf
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}'))
        .filter(|w| !w.is_empty());
    while let Some(w) = words.next() {
        if w == "pid" {
            let path = PathBuf::from(words.next()?);
            return Some(match after("-p") {
                Some(prefix) if path.is_relative() => Path::new(prefix).join(path),
                _ => path,
            });
        }
    }
    None
}

fn kind_text(kind: &EventKind) -> String {
    match kind {
        EventKind::Fork { child } => format!("fork {child}"),
        EventKind::Exec { new_name } => format!("exec {new_name}"),
        EventKind::Exit { status } => format!("exit {}", status_text(*status)),
    }
}

fn end_text(end: TraceEnd) -> &'static str {
    match end {
        TraceEnd::AllExited => "all-exited",
        TraceEnd::Quiet => "quiet",
        TraceEnd::Timeout => "timeout",
        TraceEnd::Notified => "ready",
    }
}

/// The text output: one line per event, then the summary.
pub fn render_text(report: &TraceReport, a: &Analysis, cmd: &str, out: &mut dyn Write) {
    let mut s = String::new();
    for (i, e) in report.events.iter().enumerate() {
        s.push_str(&format!(
            "{} {} {} {}\n",
            i + 1,
            e.pid,
            e.name,
            kind_text(&e.kind)
        ));
    }
    let launcher_name = report
        .events
        .iter()
        .filter(|e| e.pid == report.launcher)
        .find_map(|e| match &e.kind {
            EventKind::Exec { new_name } => Some(new_name.as_str()),
            _ => None,
        })
        .unwrap_or("?");
    match report.launcher_exit {
        Some(st) => s.push_str(&format!(
            "launcher: {} {launcher_name} exit {}\n",
            report.launcher,
            status_text(st)
        )),
        None => s.push_str(&format!(
            "launcher: {} {launcher_name} still running\n",
            report.launcher
        )),
    }
    if report.left.is_empty() {
        s.push_str("left: none\n");
    } else {
        let left: Vec<String> = report
            .left
            .iter()
            .map(|p| format!("{} {}", p.pid, p.name))
            .collect();
        s.push_str(&format!("left: {}\n", left.join(", ")));
    }
    if let Some(d) = &a.daemon {
        s.push_str(&format!("daemon: {} {}\n", d.pid, d.name));
    }
    for pf in &a.pid_files {
        let what = match pf.pid {
            Some(p) if pf.names_daemon => format!("{p} (the daemon)"),
            Some(p) => format!("{p} (not the daemon)"),
            None => "missing or empty".into(),
        };
        s.push_str(&format!("pid file: {} {what}\n", pf.path.display()));
    }
    if let Some(sock) = &report.notify_socket {
        s.push_str(&format!("notify socket: {sock}\n"));
    }
    for m in &report.notifications {
        let text = m.text.trim_end().replace('\n', " ");
        s.push_str(&format!(
            "notify: {} {text} at {} ms\n",
            m.pid,
            m.at.as_millis()
        ));
    }
    for l in &report.listening {
        // A daemon bound to any address on IPv4 and on IPv6 holds two sockets with one
        // spec (`tcp:80`): say which is which.
        let family = match (l.addr.ip, l.addr.family()) {
            (Some(ip), Some(f)) if ip.is_unspecified() => format!(" ({f})"),
            _ => String::new(),
        };
        s.push_str(&format!(
            "listening: {}{family} {} {} at {} ms\n",
            l.addr.spec(),
            l.pid,
            l.name,
            l.at.as_millis()
        ));
    }
    s.push_str(&format!("ended: {}\n", end_text(report.end)));
    if let Some(cg) = &report.cgroup {
        let state = if cg.exists() { "kept" } else { "removed" };
        s.push_str(&format!("cgroup: {} ({state})\n", cg.display()));
    }
    if let Some(note) = &report.cgroup_note {
        s.push_str(&format!("note: ran without a cgroup ({note})\n"));
    }
    if report.kept && !report.left.is_empty() {
        let place = report
            .cgroup
            .as_ref()
            .map(|c| format!(" in cgroup {}", c.display()))
            .unwrap_or_default();
        s.push_str(&format!(
            "kept: the processes left are still running{place}\n"
        ));
    }
    for w in &report.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    if let Some(f) = &report.stderr_file {
        s.push_str(&format!(
            "stderr file: {} (the kept processes write their stderr there)\n",
            f.display()
        ));
    }
    // A failing command's own words say best what to fix.
    if matches!(a.verdict, Verdict::Failed(_)) {
        for line in report.stderr.lines() {
            s.push_str(&format!("stderr: {line}\n"));
        }
    }
    for line in a.recommend_lines() {
        s.push_str(&format!("recommend: {line}\n"));
    }
    for why in a.reasons(report, cmd) {
        s.push_str(&format!("why: {why}\n"));
    }
    let _ = out.write_all(s.as_bytes());
}

/// The JSON output: one object with events, summary and recommendation.
pub fn render_json(report: &TraceReport, a: &Analysis, cmd: &str, argv: &[String]) -> Value {
    let events: Vec<Value> = report
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut v = json!({
                "n": i + 1,
                "pid": e.pid,
                "name": e.name,
                "time_ms": u64::try_from(e.at.as_millis()).unwrap_or(u64::MAX),
            });
            if let Some(o) = v.as_object_mut() {
                match &e.kind {
                    EventKind::Fork { child } => {
                        o.insert("kind".into(), json!("fork"));
                        o.insert("child".into(), json!(child));
                    }
                    EventKind::Exec { new_name } => {
                        o.insert("kind".into(), json!("exec"));
                        o.insert("new_name".into(), json!(new_name));
                    }
                    EventKind::Exit { status } => {
                        o.insert("kind".into(), json!("exit"));
                        o.insert("status".into(), json!(status_text(*status)));
                    }
                }
            }
            v
        })
        .collect();
    let proc_json = |p: &LeftProcess| json!({"pid": p.pid, "name": p.name, "parent": p.parent});
    let kind = match &a.verdict {
        Verdict::Fork => "fork",
        Verdict::Daemon => "daemon",
        Verdict::Exit(_) => "exit",
        Verdict::Notify => "notify",
        Verdict::Foreground => "foreground",
        Verdict::Task => "task",
        Verdict::Failed(_) => "failed",
        Verdict::Ptrace(_) => "ptrace",
    };
    json!({
        "command": argv,
        "events": events,
        "summary": {
            "launcher": {
                "pid": report.launcher,
                "exit": report.launcher_exit.map(status_text),
            },
            "left": report.left.iter().map(proc_json).collect::<Vec<_>>(),
            "daemon": a.daemon.as_ref().map(proc_json),
            "chain_exits": a.chain_exits.iter()
                .map(|(p, s)| json!({"pid": p, "status": status_text(*s)}))
                .collect::<Vec<_>>(),
            "pid_files": a.pid_files.iter()
                .map(|p| json!({"path": p.path, "pid": p.pid, "names_daemon": p.names_daemon}))
                .collect::<Vec<_>>(),
            "ended": end_text(report.end),
            "cgroup": report.cgroup,
            "cgroup_note": report.cgroup_note,
            "kept": report.kept,
            "uses_ptrace": report.uses_ptrace,
            "warnings": report.warnings,
            "notify": {
                "socket": report.notify_socket,
                "messages": report.notifications.iter().map(notify_json).collect::<Vec<_>>(),
                "ready": a.ready.as_ref().map(notify_json),
                "mainpid": a.mainpid,
            },
            "listening": report.listening.iter().map(listen_json).collect::<Vec<_>>(),
            "stderr": report.stderr,
            "stderr_file": report.stderr_file,
        },
        "recommendation": {
            "kind": kind,
            "stanza": a.stanza(),
            "pid_file": a.pid_files.iter().find(|p| p.names_daemon).map(|p| &p.path),
            "line": a.recommend_line(),
            "reason": a.reason(report, cmd),
            "stanzas": a.stanzas(),
            "reasons": a.reasons(report, cmd),
            "ready_on": a.ready_listen.as_ref().map(listen_json),
        },
    })
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn notify_json(m: &NotifyMessage) -> Value {
    json!({"pid": m.pid, "text": m.text, "time_ms": ms(m.at)})
}

fn listen_json(l: &ListenSeen) -> Value {
    json!({
        "proto": l.addr.proto.as_str(),
        "family": l.addr.family(),
        "address": l.addr.spec(),
        "pid": l.pid,
        "name": l.name,
        "time_ms": ms(l.at),
    })
}

/// Runs `outsetctl trace`; returns the exit code (0: a recommendation, 1: the command
/// failed, uses ptrace, or could not be traced).
pub fn run(args: &TraceArgs, out: &mut dyn Write, err: &mut dyn Write, prog: &str) -> i32 {
    // Orphaned daemons re-parent to us, so the clean-up can reap them (no zombies left for
    // a PID 1 that may not reap).
    if let Err(e) = outset_sys::reap::set_child_subreaper() {
        let _ = writeln!(err, "{prog}: warning: cannot become a subreaper: {e}");
    }
    let ready = match args.ready.as_deref().map(parse_ready).transpose() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{prog}: {e}");
            return 2;
        }
    };
    let mut opts = TraceOptions::new(args.argv.clone());
    opts.timeout = args.timeout;
    opts.keep = args.keep;
    opts.read_at_end = pid_file_paths(&args.argv);
    if let Some(outset_job::ReadySource::File(f)) = &ready {
        opts.read_at_end.push(PathBuf::from(f));
    }
    if let Some(root) = &args.cgroup_root {
        opts.cgroup_root = Some(root.clone());
    }
    let cmd = args.argv.first().map_or("the command", |c| {
        Path::new(c)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(c)
    });
    let report = match outset_trace::trace(&opts) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{prog}: trace: {e}");
            return 1;
        }
    };
    let a = analyse(&report, &args.argv);
    let asked = ready.as_ref().map(|src| {
        let spec = outset_job::render::render_expr(&outset_job::Expr::Ready(src.clone()));
        (spec, ready_seen(src, &report))
    });
    if args.json {
        let mut v = render_json(&report, &a, cmd, &args.argv);
        if let (Some((spec, seen)), Some(obj)) = (&asked, v.as_object_mut()) {
            obj.insert(
                "ready_source".into(),
                serde_json::json!({ "source": spec, "held": seen.is_some(), "seen": seen }),
            );
        }
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        let _ = writeln!(out, "{text}");
    } else {
        render_text(&report, &a, cmd, out);
        if let Some((spec, seen)) = &asked {
            match seen {
                Some(when) => {
                    let _ = writeln!(out, "ready: {spec} held ({when})");
                    let _ = writeln!(out, "recommend: ready on {spec}");
                    let _ = writeln!(
                        out,
                        "why: you asked for {spec}; it held during the trace, so `started` can wait for it."
                    );
                }
                None => {
                    let _ = writeln!(out, "ready: {spec} never held during the trace");
                }
            }
        }
    }
    match a.verdict {
        Verdict::Failed(_) | Verdict::Ptrace(_) => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outset_trace::TraceEvent;
    use std::collections::BTreeMap;

    fn ev(pid: u32, name: &str, kind: EventKind) -> TraceEvent {
        TraceEvent {
            pid,
            name: name.into(),
            kind,
            at: Duration::ZERO,
        }
    }

    fn report(events: Vec<TraceEvent>, left: &[(u32, &str)], exit: Option<i32>) -> TraceReport {
        let parents = events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Fork { child } => Some((child, e.pid)),
                _ => None,
            })
            .collect();
        TraceReport {
            launcher: 10,
            events,
            launcher_exit: exit.map(ExitStatus::Exited),
            left: left
                .iter()
                .map(|(p, n)| LeftProcess {
                    pid: *p,
                    name: (*n).into(),
                    parent: None,
                })
                .collect(),
            parents,
            end: TraceEnd::Quiet,
            cgroup: None,
            cgroup_note: None,
            uses_ptrace: None,
            kept: false,
            warnings: Vec::new(),
            notify_socket: None,
            notifications: Vec::new(),
            listening: Vec::new(),
            stderr: String::new(),
            stderr_file: None,
            files_at_end: BTreeMap::new(),
        }
    }

    fn exit(status: i32) -> EventKind {
        EventKind::Exit {
            status: ExitStatus::Exited(status),
        }
    }

    #[test]
    fn counts_only_the_launch_chain() {
        // 10 runs a helper 11 (exits), forks 12, which forks the daemon 13.
        let r = report(
            vec![
                ev(10, "d", EventKind::Fork { child: 11 }),
                ev(11, "d", exit(0)),
                ev(10, "d", EventKind::Fork { child: 12 }),
                ev(10, "d", exit(0)),
                ev(12, "d", EventKind::Fork { child: 13 }),
                ev(12, "d", exit(0)),
            ],
            &[(13, "d")],
            Some(0),
        );
        let a = analyse(&r, &["d".into()]);
        assert_eq!(a.verdict, Verdict::Daemon);
        assert_eq!(a.stanza().as_deref(), Some("expect daemon"));
        assert_eq!(a.daemon.map(|d| d.pid), Some(13));
    }

    #[test]
    fn verdicts() {
        let fg = report(vec![], &[(10, "d")], None);
        assert_eq!(analyse(&fg, &[]).verdict, Verdict::Foreground);
        let task = report(vec![ev(10, "d", exit(0))], &[], Some(0));
        assert_eq!(analyse(&task, &[]).verdict, Verdict::Task);
        let failed = report(vec![ev(10, "d", exit(3))], &[], Some(3));
        assert_eq!(analyse(&failed, &[]).verdict, Verdict::Failed("3".into()));
        let mut p = report(vec![], &[], Some(1));
        p.uses_ptrace = Some("strace".into());
        let a = analyse(&p, &["strace".into()]);
        assert!(a.reason(&p, "strace").contains("uses ptrace itself"));
    }

    #[test]
    fn readiness_recommendations() {
        use outset_trace::ListenAddr;
        // Foreground and READY=1: expect notify.
        let mut n = report(vec![], &[(10, "d")], None);
        n.notifications.push(NotifyMessage {
            pid: 10,
            text: "READY=1\nMAINPID=10".into(),
            at: Duration::from_millis(30),
        });
        let a = analyse(&n, &["d".into()]);
        assert_eq!(a.verdict, Verdict::Notify);
        assert_eq!(a.stanzas(), ["expect notify"]);
        assert_eq!(a.mainpid, Some(10));
        // One fork, a socket before and one after the launcher's exit.
        let mut exit_ev = ev(10, "d", exit(0));
        exit_ev.at = Duration::from_millis(100);
        let mut f = report(
            vec![ev(10, "d", EventKind::Fork { child: 11 }), exit_ev],
            &[(11, "d")],
            Some(0),
        );
        let seen = |port: u16, at: u64| ListenSeen {
            addr: ListenAddr {
                proto: ListenProto::Tcp,
                ip: Some("127.0.0.1".parse().unwrap()),
                port,
                path: String::new(),
            },
            pid: 11,
            name: "d".into(),
            at: Duration::from_millis(at),
        };
        f.listening.push(seen(81, 50));
        let a = analyse(&f, &["d".into()]);
        assert_eq!(a.stanzas(), ["expect fork"]);
        f.listening.push(seen(82, 400));
        let a = analyse(&f, &["d".into()]);
        assert_eq!(
            a.stanzas(),
            ["expect fork", "ready on listening tcp:127.0.0.1:82"]
        );
        assert_eq!(a.reasons(&f, "d").len(), 2);
    }

    /// Issue 9 item 21: a daemon bound to any address on both IPv4 and IPv6 shows two
    /// `listening:` lines that say which family each is (before: `tcp:80` twice).
    #[test]
    fn issue9_item21_listening_lines_show_the_family() {
        use outset_trace::ListenAddr;
        let mut r = report(vec![], &[(10, "nginx")], None);
        for ip in ["0.0.0.0", "::", "127.0.0.1"] {
            r.listening.push(ListenSeen {
                addr: ListenAddr {
                    proto: ListenProto::Tcp,
                    ip: Some(ip.parse().unwrap()),
                    port: 80,
                    path: String::new(),
                },
                pid: 10,
                name: "nginx".into(),
                at: Duration::from_millis(5),
            });
        }
        let a = analyse(&r, &["nginx".into()]);
        let mut out = Vec::new();
        render_text(&r, &a, "nginx", &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("listening:"))
            .collect();
        assert_eq!(
            lines,
            [
                "listening: tcp:80 (IPv4) 10 nginx at 5 ms",
                "listening: tcp:80 (IPv6) 10 nginx at 5 ms",
                "listening: tcp:127.0.0.1:80 10 nginx at 5 ms",
            ]
        );
        let v = render_json(&r, &a, "nginx", &["nginx".into()]);
        assert_eq!(v["summary"]["listening"][1]["family"], "IPv6");
    }

    #[test]
    fn pid_files() {
        let argv: Vec<String> = ["d", "--pidfile", "/a", "-P", "/b", "--pid-file=/c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            pid_file_args(&argv),
            vec![
                PathBuf::from("/a"),
                PathBuf::from("/b"),
                PathBuf::from("/c")
            ]
        );
        let sh: Vec<String> = ["sh", "-c", "true; exec d --pidfile /x; "]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pid_file_args(&sh), vec![PathBuf::from("/x")]);
        let rs: Vec<String> = ["/usr/sbin/rsyslogd", "-i", "/r", "-f", "/c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pid_file_args(&rs), vec![PathBuf::from("/r")]);
        let other: Vec<String> = ["d", "-i", "/r", "pidfile", "/p"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pid_file_args(&other), vec![PathBuf::from("/p")]);
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("n.conf");
        std::fs::write(
            &conf,
            "# pid /no;\nworker_processes 1;\npid  run/n.pid;\nevents {}\n",
        )
        .unwrap();
        let c = conf.display().to_string();
        let nginx: Vec<String> = ["/usr/sbin/nginx", "-c", &c, "-p", "/srv"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            nginx_pid_file(&nginx),
            Some(PathBuf::from("/srv/run/n.pid"))
        );
        assert_eq!(nginx_pid_file(&["nginx".to_string()]), None);
    }
}
