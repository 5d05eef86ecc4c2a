//! Command-line shape of `outsetctl`: Upstart's `initctl` verbs and options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "outsetctl", about = "Control the outset init daemon", version)]
pub struct Cli {
    /// The daemon's control socket (default: the system or, for --user and non-root, the
    /// per-user daemon's).
    #[arg(long, global = true, env = outset_proto::socket::SOCKET_ENV, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print read verbs' results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Reply as soon as the request is accepted instead of when the job has settled.
    #[arg(short = 'n', long, global = true)]
    pub no_wait: bool,
    /// Talk to the per-user daemon.
    #[arg(long, global = true)]
    pub user: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// A job and the environment selecting (or starting) its instance.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job; inside a job's own processes it defaults to `$UPSTART_JOB` (and its
    /// instance to `$UPSTART_INSTANCE`), as with Upstart's `stop` in a pre-start script.
    pub job: Option<String>,
    /// Passed to the daemon as-is; it checks the form.
    #[arg(value_name = "KEY=VALUE")]
    pub env: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a job instance.
    Start(JobArgs),
    /// Stop a job instance.
    Stop(JobArgs),
    /// Stop a job instance and start it again.
    Restart(JobArgs),
    /// Send a job instance its reload signal.
    Reload(JobArgs),
    /// Show a job's instances.
    Status {
        /// Also list every live process of each instance with its command line.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Show every job and instance.
    List,
    /// Emit an event.
    Emit {
        event: String,
        #[arg(value_name = "KEY=VALUE")]
        env: Vec<String>,
    },
    /// Make the daemon re-read its job directories.
    ReloadConfiguration,
    /// Show jobs' configuration as the daemon understood it.
    ShowConfig { job: Option<String> },
    /// Parse job files or conf dirs without a daemon; exit 1 if any has an error.
    CheckConfig {
        /// Print each job's normalised configuration (it parses back to the same job).
        #[arg(long)]
        show: bool,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Show a job's `console log` output: its last lines, and with -f what follows, across
    /// rotations (`-n N` is taken as `--lines N` after `log`).
    Log {
        job: String,
        /// The instance, for a job with instances.
        instance: Option<String>,
        /// How many of the last lines to show.
        #[arg(long, value_name = "N", default_value_t = 10)]
        lines: usize,
        /// Keep printing new output as it comes.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Tell the daemon the disk is writable: job output held in memory is written now.
    NotifyDiskWriteable,
    /// Show the daemon's log priority, or set it: debug, info, message, warn, error or fatal.
    LogPriority { priority: Option<String> },
    /// Make the daemon re-execute itself (not implemented yet).
    Reexec,
    /// Print the client's version and, if it answers, the daemon's.
    Version,
    /// Run a command under ptrace, print its forks, execs and exits, and recommend the
    /// `expect` stanza that matches how it starts (needs ptrace; root for a cgroup).
    Trace {
        /// Give up after SECS even if processes are still busy.
        #[arg(long, value_name = "SECS", default_value_t = 5.0)]
        timeout: f64,
        /// Leave the processes the command left running instead of killing them.
        #[arg(long)]
        keep: bool,
        /// A readiness source to watch for, as `ready on` takes it: `file PATH`,
        /// `listening tcp:[ADDR:]PORT|udp:…|unix:PATH`.
        #[arg(long, value_name = "SOURCE")]
        ready: Option<String>,
        /// Run the command in a new cgroup below this cgroup2 directory (which must exist)
        /// instead of below the cgroup2 mount's root.
        #[arg(long, value_name = "DIR")]
        cgroup_root: Option<std::path::PathBuf>,
        /// The command and its arguments (after `--`).
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        command: Vec<String>,
    },
}
