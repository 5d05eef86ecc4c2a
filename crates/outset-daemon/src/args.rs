//! Command-line options of the `outset` daemon.

use std::path::PathBuf;

use clap::Parser;

/// outset: an event-driven init system and service supervisor for Upstart jobs.
#[derive(Debug, Clone, Parser)]
#[command(name = "outset", version, about)]
pub struct Args {
    /// Run as a per-user supervisor (subreaper, user paths, changes allowed for the owner).
    #[arg(long)]
    pub user: bool,
    /// Directory of job files; repeatable, searched in order (the first owning a name wins).
    #[arg(long = "confdir", value_name = "DIR")]
    pub confdirs: Vec<PathBuf>,
    /// Directory for job output logs. Not used yet: no job log is written, and `console log`
    /// output is discarded until log capture lands.
    #[arg(long, value_name = "DIR")]
    pub logdir: Option<PathBuf>,
    /// Control socket path.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// cgroup v2 directory under which job cgroups are created.
    #[arg(long, value_name = "PATH")]
    pub cgroup_root: Option<PathBuf>,
    /// Do not emit the startup event.
    #[arg(long)]
    pub no_startup_event: bool,
    /// Name of the startup event.
    #[arg(long, value_name = "NAME", default_value = "startup")]
    pub startup_event: String,
    /// Read serialised state from this fd (re-exec).
    #[arg(long, value_name = "FD")]
    pub state_fd: Option<i32>,
    /// How jobs are tracked: `cgroup` (each job's `track` stanza decides) or `ptrace` (every
    /// job's launch chain is also followed with ptrace, as `track ptrace` does).
    #[arg(long, value_name = "MODE", default_value = "cgroup", value_parser = ["cgroup", "ptrace"])]
    pub track: String,
    /// Where to serve Upstart's D-Bus API as a private server: a `unix:abstract=NAME`
    /// address, `none`, or `auto` (the default): Upstart's `unix:abstract=/com/ubuntu/upstart`
    /// (`--user`: `…/upstart-session/UID/PID`).
    #[arg(long, value_name = "ADDRESS", overrides_with = "dbus_private")]
    pub dbus_private: Option<String>,
    /// The bus to serve Upstart's D-Bus API on as `com.ubuntu.Upstart`: an address, `none`,
    /// or `auto` (the default): the system bus (`--user`: the session bus), joined when it
    /// appears.
    #[arg(long, value_name = "ADDRESS", overrides_with = "dbus_bus")]
    pub dbus_bus: Option<String>,
    /// Verbose logging.
    #[arg(long)]
    pub debug: bool,
}
