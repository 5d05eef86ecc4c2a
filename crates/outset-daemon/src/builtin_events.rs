//! The events outset emits itself, for the corpus check (`tests/corpus_events.rs`) and the
//! docs (docs/event-sources.md).

/// Every event the daemon or the engine emits on its own: the start-up event, the signals'
/// events, a user session's end, the job events, and the bridges' events now built in.
pub const EMITTED: &[&str] = &[
    // The daemon (event_loop.rs, lib.rs).
    "startup",
    "control-alt-delete",
    "power-status-changed",
    "session-end",
    // The engine's job events.
    "starting",
    "started",
    "stopping",
    "stopped",
    // Built-in event sources (issue 17): upstart-socket-bridge, upstart-file-bridge and
    // upstart-dbus-bridge.
    "socket",
    "file",
    "dbus",
];
