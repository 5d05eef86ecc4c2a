//! Command-line shape of `outsetctl`: Upstart's `initctl` verbs and options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "outsetctl", about = "Control the outset init daemon", version)]
pub struct Cli {
    /// The daemon's control socket (default: $OUTSET_SOCKET, else the system daemon's or,
    /// for --user, non-root users and inside a session, the per-user daemon's).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print read verbs' results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Reply as soon as the request is accepted instead of when the job has settled.
    #[arg(short = 'n', long, global = true)]
    pub no_wait: bool,
    /// Talk to the per-user daemon (the default for non-root users, and inside a session,
    /// where $UPSTART_SESSION is set).
    #[arg(long, global = true)]
    pub user: bool,
    /// Talk to the user's session daemon (initctl's `--session`: the same as --user).
    #[arg(long, global = true, conflicts_with = "system")]
    pub session: bool,
    /// Talk to the system daemon, even from a user session.
    #[arg(long, global = true, conflicts_with = "user")]
    pub system: bool,
    /// initctl's D-Bus destination name; only valid with --system. outset has one system
    /// daemon, so it changes nothing.
    #[arg(long, global = true, value_name = "NAME")]
    pub dest: Option<String>,
    /// Print errors only: results are not printed, the exit status tells.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print informational messages on stderr.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Which job environment table an environment verb acts on.
#[derive(Debug, Args)]
pub struct EnvScope {
    /// The global table even inside a job (which otherwise means the job's own
    /// environment, from $UPSTART_JOB and $UPSTART_INSTANCE).
    #[arg(short = 'g', long)]
    pub global: bool,
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

/// `shutdown`'s options, as sysvinit's and Upstart's.
#[derive(Debug, Args)]
pub struct ShutdownArgs {
    /// Reboot.
    #[arg(short = 'r')]
    pub reboot: bool,
    /// Halt or power off (power off).
    #[arg(short = 'h')]
    pub halt_or_poweroff: bool,
    /// Halt.
    #[arg(short = 'H')]
    pub halt: bool,
    /// Power off.
    #[arg(short = 'P')]
    pub poweroff: bool,
    /// Cancel a scheduled shutdown.
    #[arg(short = 'c')]
    pub cancel: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// `now`, `+MINUTES` or `HH:MM` (default: now).
    #[arg(allow_hyphen_values = false)]
    pub time: Option<String>,
    /// A message for the console.
    #[arg(trailing_var_arg = true)]
    pub message: Vec<String>,
}

/// `reboot`, `halt` and `poweroff`'s options.
#[derive(Debug, Args)]
pub struct PowerArgs {
    /// At once: no job is stopped (only the filesystems are synced).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Power off (`halt -p`).
    #[arg(short = 'p', long)]
    pub poweroff: bool,
    /// Only what sysvinit's `-w` does: write the wtmp record. outset writes none: nothing
    /// is done.
    #[arg(short = 'w', long = "wtmp-only")]
    pub wtmp_only: bool,
    /// Accepted for sysvinit's scripts (`halt -d -f -i -h`), and ignored.
    #[arg(short = 'd', hide = true)]
    pub no_wtmp: bool,
    #[arg(short = 'i', hide = true)]
    pub down_ifaces: bool,
    #[arg(short = 'h', hide = true)]
    pub hddown: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
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
    /// Show a job's instances (with --json also when each was spawned, became ready and
    /// last changed state).
    Status {
        /// Also list every live process of each instance with its command line, and when
        /// it was spawned, became ready and last changed state (UTC).
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
    /// Show jobs' emits, start on and stop on conditions, as initctl does.
    ShowConfig {
        /// One line per event or job a condition mentions.
        #[arg(short = 'e', long)]
        enumerate: bool,
        /// outset's own view instead: each job's whole normalised job file.
        #[arg(long, alias = "normalized", conflicts_with = "enumerate")]
        normalised: bool,
        job: Option<String>,
    },
    /// Report conditions on events no job emits and on jobs that do not exist, over the
    /// daemon's jobs or, given paths (containing `/`, ending in `.conf`, or existing),
    /// over those job files with no daemon; exit 1 if anything is in error.
    CheckConfig {
        /// Events to take as emitted (comma-separated; repeatable).
        #[arg(
            short = 'i',
            long = "ignore-events",
            value_name = "EVENT_LIST",
            value_delimiter = ','
        )]
        ignore_events: Vec<String>,
        /// An `or` is satisfied only if both sides are.
        #[arg(short = 'w', long)]
        warn: bool,
        /// With paths: also print each job's normalised configuration.
        #[arg(long)]
        show: bool,
        /// With paths: only parse, check no condition.
        #[arg(long)]
        syntax_only: bool,
        /// Job files or conf dirs, and jobs to report on (all when none is named).
        #[arg(value_name = "PATH|JOB")]
        args: Vec<String>,
    },
    /// Draw the jobs and the events that start, stop and connect them, as DOT or SVG.
    ///
    /// What starts, stops and emits what (initctl2dot's graph), from the daemon's jobs or,
    /// with --conf-dir, from job files. DOT by default; --svg draws SVG with Graphviz's
    /// `dot` when it is on PATH, else with outset's own layout (the SVG's first comment
    /// says which; -v says it on stderr).
    Graph {
        /// Print SVG instead of DOT.
        #[arg(long)]
        svg: bool,
        /// Who draws the SVG (implies --svg): `dot` (Graphviz) or `outset` (its own layout).
        #[arg(long, value_enum, value_name = "outset|dot")]
        renderer: Option<crate::graph::Renderer>,
        /// Only this job's neighbourhood: the jobs up to --depth steps before and after it
        /// (a step is one event) and the events between them.
        #[arg(long, value_name = "NAME")]
        job: Option<String>,
        /// How many steps from --job.
        #[arg(long, value_name = "N", default_value_t = 1, requires = "job")]
        depth: usize,
        /// Read job files from DIR (repeatable; the first to hold a name wins) instead of
        /// asking the daemon: no daemon needed.
        #[arg(long, value_name = "DIR")]
        conf_dir: Vec<PathBuf>,
    },
    /// Show a job's `usage` stanza.
    Usage {
        /// The job; inside a job's own processes it defaults to `$UPSTART_JOB`.
        job: Option<String>,
    },
    /// Print the job environment table, sorted (inside a job: that job's environment).
    ListEnv(EnvScope),
    /// Print one variable of the job environment table.
    GetEnv {
        #[command(flatten)]
        scope: EnvScope,
        #[arg(value_name = "VARIABLE")]
        name: String,
    },
    /// Set variables in the job environment table (a bare VARIABLE is set empty); jobs
    /// started from then on receive them (inside a job: its later processes).
    SetEnv {
        #[command(flatten)]
        scope: EnvScope,
        /// Keep a variable's value if it is already set.
        #[arg(short = 'r', long)]
        retain: bool,
        #[arg(required = true, value_name = "VARIABLE[=VALUE]")]
        vars: Vec<String>,
    },
    /// Remove variables from the job environment table.
    UnsetEnv {
        #[command(flatten)]
        scope: EnvScope,
        #[arg(required = true, value_name = "VARIABLE")]
        names: Vec<String>,
    },
    /// Put the job environment table back as it was when the daemon started.
    ResetEnv(EnvScope),
    /// Tell a user daemon the address of its session's D-Bus bus.
    NotifyDbusAddress { address: String },
    /// Tell the daemon where a cgroup manager listens (noted only: outset manages its
    /// cgroups itself).
    NotifyCgroupManagerAddress { address: String },
    /// List the user's sessions: `PID UPSTART_SESSION` per running session daemon.
    ListSessions,
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
    /// Watch events and job state changes as they happen, one line each (with --json one
    /// JSON object per line), until interrupted. A watcher that does not keep up is told
    /// how many records it missed (`dropped N records`).
    Monitor,
    /// Show what happened since the daemon started (or in the last SECONDS) as a chart:
    /// one bar per instance run from starting to spawned to ready to stopped, and the
    /// events; text for a terminal, or with --svg an SVG picture. The daemon keeps the
    /// last 4096 records.
    Timeline {
        /// Write a self-contained SVG picture instead of text.
        #[arg(long)]
        svg: bool,
        /// Only the last SECONDS.
        #[arg(long, value_name = "SECONDS")]
        last: Option<f64>,
    },
    /// Show the daemon's log priority, or set it: debug, info, message, warn, error or fatal.
    LogPriority { priority: Option<String> },
    /// Make the daemon re-execute itself (its own binary, or PATH), keeping every job,
    /// event and waiting client; answered by the new image.
    Reexec {
        /// The binary to execute instead of the daemon's own.
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
    },
    /// Print the daemon's version, as initctl does (`init (upstart 1.13.2) outset …`).
    Version,
    /// Bring the system down: `shutdown [-r|-h|-H|-P] [-c] [now|+MIN|HH:MM] [MESSAGE]`;
    /// without -r/-h/-H/-P, go to runlevel 1 (maintenance).
    #[command(disable_help_flag = true)]
    Shutdown(ShutdownArgs),
    /// Reboot (with -f at once, without stopping jobs).
    #[command(disable_help_flag = true)]
    Reboot(PowerArgs),
    /// Halt (with -p power off; with -f at once).
    #[command(disable_help_flag = true)]
    Halt(PowerArgs),
    /// Power off (with -f at once).
    #[command(disable_help_flag = true)]
    Poweroff(PowerArgs),
    /// Change the runlevel (`runlevel RUNLEVEL=N PREVLEVEL=M`); 0 powers off, 6 reboots,
    /// q reloads the configuration.
    Telinit {
        /// More variables for the `runlevel` event.
        #[arg(short = 'e', value_name = "KEY=VALUE")]
        env: Vec<String>,
        level: String,
    },
    /// Print the previous and current runlevel (`N 2`).
    Runlevel,
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
