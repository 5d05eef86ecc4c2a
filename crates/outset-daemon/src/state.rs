//! The state a re-exec hands to the new image (docs/reexec.md): versioned JSON in a memfd.
//!
//! The envelope (`schema`, `writer`, `fds`) is frozen: every schema version keeps it, so
//! any reader can tell a state it cannot read and close the descriptors it names. A reader
//! takes every schema up to [`SCHEMA`] and refuses a newer one, or one holding a section it
//! does not know or of a newer version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema this binary writes and the newest it reads.
pub const SCHEMA: u32 = 1;

/// Optional sections this binary knows, with the newest version of each it reads. Parts of
/// the daemon added later each add one entry here (docs/reexec.md, "Adding a section").
pub const KNOWN_SECTIONS: &[(&str, u32)] = &[(LOGS, 1)];

/// The `console log` section ([`LogsState`]): written only when a pty is live or output is
/// held, so an older reader refuses a state rather than drop them.
pub const LOGS: &str = "logs";

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub schema: u32,
    /// The outset version that wrote it.
    pub writer: String,
    /// Every descriptor handed over, so even a reader that refuses the rest closes them.
    pub fds: Vec<i32>,
    /// The daemon's clock (milliseconds since it first started) at the snapshot.
    pub clock_ms: u64,
    pub engine: outset_engine::Snapshot,
    pub daemon: DaemonState,
    /// Optional parts, each with its own version: name → section.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sections: BTreeMap<String, Section>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Section {
    pub version: u32,
    pub data: serde_json::Value,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DaemonState {
    /// The control socket's first listening descriptor (-1: none); schema 1 named only it.
    pub listener: i32,
    /// Every listening descriptor (the socket path's, the abstract one) with the one uid it
    /// lets in, if restricted; empty in states that name only `listener`.
    #[serde(default)]
    pub listeners: Vec<(i32, Option<u32>)>,
    /// The runlevels `runlevel` reports (previous, current), absent in older states.
    #[serde(default)]
    pub runlevels: Option<(Option<char>, Option<char>)>,
    pub next_reply: u64,
    pub shutting_down: bool,
    /// Replies the new image sends once it runs (the `reexec` request's own).
    pub reexec_replies: Vec<u64>,
    /// Adopted processes that are not the daemon's children (instance, PID): the new image
    /// watches them through pidfds again.
    #[serde(default)]
    pub watched: Vec<(u64, u32)>,
    pub host: HostState,
    /// Each job's files (for the record: the new image loads the conf dirs again).
    pub sources: Vec<(String, Vec<String>)>,
    /// What happened, for `outsetctl timeline` (absent in older states).
    #[serde(default)]
    pub observed: Option<ObservedState>,
}

/// The bounded history of records (`observe.rs`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ObservedState {
    pub started_ms: u64,
    pub forgotten: u64,
    pub records: Vec<outset_proto::Record>,
}

impl State {
    /// The [`LOGS`] section (empty when absent: a state without live ptys or held output).
    pub fn logs(&self) -> Result<LogsState, String> {
        match self.sections.get(LOGS) {
            Some(s) => serde_json::from_value(s.data.clone())
                .map_err(|e| format!("state section {LOGS} unreadable: {e}")),
            None => Ok(LogsState::default()),
        }
    }
}

impl DaemonState {
    /// The listeners to take over, each with the uid it is restricted to.
    pub fn all_listeners(&self) -> Vec<(i32, Option<u32>)> {
        if !self.listeners.is_empty() {
            self.listeners.clone()
        } else if self.listener >= 0 {
            vec![(self.listener, None)]
        } else {
            Vec::new()
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HostState {
    pub conns: Vec<ConnState>,
    /// Reply token → connection token.
    pub routes: Vec<(u64, u64)>,
    /// Reply token → (job → why its text is withheld).
    pub withheld: Vec<(u64, BTreeMap<String, String>)>,
    /// `expect notify` sockets: instance, descriptor, abstract name.
    pub notify: Vec<(u64, i32, String)>,
    /// Spawn failures reported and not reaped yet: PID, failure.
    pub spawn_failures: Vec<(u32, String)>,
    pub tracker: TrackerState,
    /// Socket-activation listeners: endpoint (as logged, e.g. `tcp 127.0.0.1:80`) and
    /// descriptor, so no waiting connection is lost; absent in older states.
    #[serde(default)]
    pub activation: Vec<(String, i32)>,
    /// Per instance with `cgroup`/`resource` stanzas: what was not applied, the OOM kills
    /// seen; absent in older states.
    #[serde(default)]
    pub resources: Vec<(u64, crate::resources::InstanceResources)>,
}

/// The [`LOGS`] section, version 1 (docs/logging.md): every live pty's master is handed
/// over, and the output held in memory goes with it, so no byte is lost across a re-exec.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LogsState {
    /// The next capture id.
    pub next: u64,
    pub captures: Vec<CaptureState>,
    pub sinks: Vec<SinkState>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CaptureState {
    pub id: u64,
    /// The pty master.
    pub fd: i32,
    /// The log file's name in the log directory (`<job>[-<instance>].log`).
    pub sink: String,
    /// The process the pty was given to.
    pub pid: Option<u32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SinkState {
    pub name: String,
    pub max_size: u64,
    pub keep: u32,
    /// Output not written yet, in order (raw bytes: output may be binary).
    pub pending: Vec<u8>,
    /// Bytes lost and not marked in the file yet.
    pub dropped: u64,
    /// The rest of a marker a full disk cut short, and the count it reports.
    pub marker_rest: Vec<u8>,
    pub marker_count: u64,
    pub at_line_start: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConnState {
    pub token: u64,
    pub fd: i32,
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
    /// Received and not yet taken as requests.
    pub input: Vec<u8>,
    /// Replies not yet written.
    pub output: Vec<u8>,
    pub eof: bool,
    pub pending: usize,
    pub counted: bool,
    /// A `monitor` watcher: the records dropped for it and not told yet (absent in older
    /// states: not a watcher).
    #[serde(default)]
    pub watch: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TrackerState {
    /// Instance id, cgroup directory name, whether it has its cgroup, known PIDs.
    pub instances: Vec<(u64, String, bool, Vec<u32>)>,
    /// cgroups of ended instances still to remove.
    pub retired: Vec<String>,
}

/// The descriptors a state named, taken by number.
pub type Fds = std::collections::HashMap<i32, std::os::fd::OwnedFd>;

/// Why a state was not taken.
#[derive(Debug)]
pub enum Refused {
    /// Written by a newer outset (or with a section this one does not know).
    Newer(String),
    /// Not a state, or one that does not hang together.
    Broken(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Newer(m) | Refused::Broken(m) => f.write_str(m),
        }
    }
}

/// The descriptors a state names, read from the frozen envelope alone (for closing them
/// when the rest is refused).
pub fn envelope_fds(text: &[u8]) -> Vec<i32> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        fds: Vec<i32>,
    }
    serde_json::from_slice::<Envelope>(text)
        .map(|e| e.fds)
        .unwrap_or_default()
}

/// Parses a state, refusing one from a newer schema before reading the rest.
pub fn parse(text: &[u8]) -> Result<State, Refused> {
    #[derive(Deserialize)]
    struct Head {
        schema: u32,
        #[serde(default)]
        writer: String,
        #[serde(default)]
        sections: BTreeMap<String, SectionHead>,
    }
    #[derive(Deserialize)]
    struct SectionHead {
        version: u32,
    }
    let head: Head = serde_json::from_slice(text)
        .map_err(|e| Refused::Broken(format!("not an outset state: {e}")))?;
    if head.schema > SCHEMA {
        return Err(Refused::Newer(format!(
            "state schema {} (written by outset {}) is newer than this outset reads ({SCHEMA})",
            head.schema, head.writer
        )));
    }
    for (name, s) in &head.sections {
        match KNOWN_SECTIONS.iter().find(|(n, _)| n == name) {
            Some((_, v)) if s.version <= *v => {}
            Some((_, v)) => {
                return Err(Refused::Newer(format!(
                    "state section {name} version {} is newer than this outset reads ({v})",
                    s.version
                )));
            }
            None => {
                return Err(Refused::Newer(format!(
                    "state section {name} (written by outset {}) is unknown to this outset",
                    head.writer
                )));
            }
        }
    }
    serde_json::from_slice(text).map_err(|e| Refused::Broken(format!("state unreadable: {e}")))
}

/// `outset --check-state FD`: whether this binary can take the state behind `fd` (the old
/// image asks before it execs). Nothing else is done.
pub fn check(fd: i32) -> Result<(), String> {
    let fd = outset_sys::handover::take_fd(fd).map_err(|e| format!("state fd {fd}: {e}"))?;
    let text = outset_sys::handover::read_state(std::os::fd::AsFd::as_fd(&fd))
        .map_err(|e| format!("reading the state: {e}"))?;
    let state = parse(&text).map_err(|e| e.to_string())?;
    state.logs()?;
    outset_engine::Engine::restore(
        outset_engine::Options::default(),
        state.engine,
        state.clock_ms,
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(schema: u32) -> String {
        let engine = serde_json::to_string(
            &outset_engine::Engine::new(outset_engine::Options::default()).snapshot(),
        )
        .unwrap();
        format!(
            r#"{{"schema":{schema},"writer":"9.9.9","fds":[7,8],"clock_ms":5,"engine":{engine},"daemon":{{"listener":7,"next_reply":1,"shutting_down":false,"reexec_replies":[],"host":{{"conns":[],"routes":[],"withheld":[],"notify":[],"spawn_failures":[],"tracker":{{"instances":[],"retired":[]}}}},"sources":[]}}}}"#
        )
    }

    #[test]
    fn issue15_item4_newer_schemas_and_unknown_sections_are_refused() {
        assert!(parse(minimal(SCHEMA).as_bytes()).is_ok());
        match parse(minimal(SCHEMA + 1).as_bytes()) {
            Err(Refused::Newer(m)) => assert!(m.contains("9.9.9"), "{m}"),
            other => panic!("{other:?}"),
        }
        // The envelope's descriptors are read even from a state that is refused.
        assert_eq!(envelope_fds(minimal(SCHEMA + 1).as_bytes()), [7, 8]);
        let with_section = minimal(SCHEMA).replacen(
            r#""fds""#,
            r#""sections":{"runlevel":{"version":1,"data":"2"}},"fds""#,
            1,
        );
        assert!(matches!(
            parse(with_section.as_bytes()),
            Err(Refused::Newer(_))
        ));
        assert!(matches!(parse(b"garbage"), Err(Refused::Broken(_))));
    }

    /// The `logs` section: read at version 1, absent means nothing to carry, a newer
    /// version is refused (a downgrade never silently drops ptys or held output).
    #[test]
    fn issue15_logs_section_read_defaulted_or_refused() {
        let none = parse(minimal(SCHEMA).as_bytes()).unwrap();
        assert!(none.logs().unwrap().captures.is_empty());
        let section = |v: u32| {
            minimal(SCHEMA).replacen(
                r#""fds""#,
                &format!(
                    r#""sections":{{"logs":{{"version":{v},"data":{{"next":3,"captures":[{{"id":2,"fd":8,"sink":"j.log","pid":42}}],"sinks":[{{"name":"j.log","max_size":0,"keep":0,"pending":[104,255,10],"dropped":0,"marker_rest":[],"marker_count":0,"at_line_start":true}}]}}}}}},"fds""#
                ),
                1,
            )
        };
        let logs = parse(section(1).as_bytes()).unwrap().logs().unwrap();
        assert_eq!(logs.captures[0].fd, 8);
        assert_eq!(logs.sinks[0].pending, b"h\xff\n");
        assert!(matches!(
            parse(section(2).as_bytes()),
            Err(Refused::Newer(_))
        ));
    }
}
