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
    /// Replaces the default directories (system mode: `$UPSTART_CONFDIR`, else /etc/init).
    #[arg(long = "confdir", value_name = "DIR")]
    pub confdirs: Vec<PathBuf>,
    /// A job directory searched before the others; repeatable.
    #[arg(long = "prepend-confdir", value_name = "DIR")]
    pub prepend_confdirs: Vec<PathBuf>,
    /// A job directory searched after the others; repeatable.
    #[arg(long = "append-confdir", value_name = "DIR")]
    pub append_confdirs: Vec<PathBuf>,
    /// User mode: jobs do not inherit the daemon's environment (only PATH and TERM, as in
    /// system mode, where this is always so).
    #[arg(long)]
    pub no_inherit_env: bool,
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
    /// Log debug messages too.
    #[arg(long)]
    pub debug: bool,
    /// Log informational messages (Upstart's `--verbose`; outset logs them by default).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Log errors only (`--debug` wins over it).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Upstart's re-exec marker: the startup event is not emitted. outset does not re-exec
    /// itself yet, so nothing else is restored.
    #[arg(long)]
    pub restart: bool,
    /// Upstart: write the state file on re-exec. Accepted and ignored (no re-exec yet).
    #[arg(long)]
    pub write_state_file: bool,
    /// Upstart: use the D-Bus session bus. Accepted and ignored: outset serves no D-Bus
    /// API yet.
    #[arg(long)]
    pub session: bool,
    /// Upstart: never connect to a D-Bus bus. outset serves no D-Bus API yet; `ready on
    /// dbus` conditions still look at the system bus.
    #[arg(long)]
    pub no_dbus: bool,
    /// Upstart: ignore `cgroup` stanzas. Accepted: outset ignores them anyway, and its own
    /// per-instance cgroups are how it tracks jobs, so they stay.
    #[arg(long)]
    pub no_cgroups: bool,
    /// Upstart: disable chroot sessions (its code names the flag `--chroot-sessions`).
    /// outset has no chroot sessions: both are accepted and ignored.
    #[arg(long, alias = "chroot-sessions")]
    pub no_sessions: bool,
}

impl Args {
    /// The accepted Upstart flags that change nothing here, each with why, for the log.
    pub fn ignored_flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |on: bool, flag: &str, why: &str| {
            if on {
                out.push(format!("{flag} ignored: {why}"));
            }
        };
        note(
            self.write_state_file,
            "--write-state-file",
            "outset does not re-exec itself yet",
        );
        note(self.session, "--session", "outset serves no D-Bus API yet");
        note(self.no_dbus, "--no-dbus", "outset serves no D-Bus API yet");
        note(
            self.no_cgroups,
            "--no-cgroups",
            "`cgroup` stanzas are not applied anyway; outset's tracking cgroups stay",
        );
        note(
            self.no_sessions,
            "--no-sessions",
            "outset has no chroot sessions",
        );
        out
    }

    /// The log threshold: `--debug`, `--quiet` (errors only), else informational messages.
    pub fn log_level(&self) -> log::LevelFilter {
        if self.debug {
            log::LevelFilter::Debug
        } else if self.quiet {
            log::LevelFilter::Error
        } else {
            log::LevelFilter::Info
        }
    }
}
