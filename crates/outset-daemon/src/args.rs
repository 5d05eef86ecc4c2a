//! Command-line options of the `outset` daemon, and the words a kernel or an old init's
//! user passes to PID 1 (`single`, `5`, `splash`, `--verbose`, …), which never make it exit.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

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
    /// Directory of `console log` job output (default: /var/log/outset; in --user mode the
    /// user's cache directory, `$XDG_CACHE_HOME/outset`).
    #[arg(long, value_name = "DIR")]
    pub logdir: Option<PathBuf>,
    /// Log no job output: `console log` behaves as `console none`.
    #[arg(long)]
    pub no_log: bool,
    /// The console of jobs without a `console` stanza: log, output, owner or none.
    #[arg(long, value_name = "VALUE", default_value = "log", value_parser = ["log", "output", "owner", "none"])]
    pub default_console: String,
    /// Rotate a job's log once it would pass SIZE bytes (K, M, G suffixes; `off`: never),
    /// unless the job's `log rotate` says otherwise.
    #[arg(long, value_name = "SIZE", default_value = "10M")]
    pub log_rotate_size: String,
    /// How many rotated files (`JOB.log.1`, …) to keep.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub log_rotate_keep: u32,
    /// The terminal `console output` and `console owner` jobs get (default: /dev/console
    /// when the daemon is PID 1, else the daemon's own stdin, stdout and stderr).
    #[arg(long, value_name = "PATH")]
    pub console_device: Option<PathBuf>,
    /// Control socket path.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// cgroup v2 directory under which job cgroups are created.
    #[arg(long, value_name = "PATH")]
    pub cgroup_root: Option<PathBuf>,
    /// Where device events come from: `auto` (udevd's messages while udevd runs, else the
    /// kernel's), `kernel` or `udev` (see docs/devices.md).
    #[arg(long, value_name = "SOURCE", default_value = "auto", value_parser = ["auto", "kernel", "udev"])]
    pub uevent_source: String,
    /// Test hook: device events are read from a Unix datagram socket made at PATH (each
    /// datagram one uevent in either wire format) instead of netlink.
    #[arg(long, value_name = "PATH")]
    pub uevent_socket: Option<PathBuf>,
    /// Do not emit the startup event.
    #[arg(long)]
    pub no_startup_event: bool,
    /// Name of the startup event.
    #[arg(long, value_name = "NAME", default_value = "startup")]
    pub startup_event: String,
    /// Take the state a re-exec handed over from this fd (a memfd; docs/reexec.md).
    #[arg(long, value_name = "FD")]
    pub state_fd: Option<i32>,
    /// Only check that the state behind FD can be taken, then exit 0 (or 1 with why): what
    /// a re-exec asks of its target before it execs.
    #[arg(long, value_name = "FD")]
    pub check_state: Option<i32>,
    /// SIGTERM re-executes the daemon, keeping every job, as it does for init (PID 1 of the
    /// initial PID namespace), instead of stopping every job.
    #[arg(long)]
    pub sigterm_reexec: bool,
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
    /// Log debug messages too.
    #[arg(long)]
    pub debug: bool,
    /// Log informational messages (Upstart's `--verbose`; outset logs them by default).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Log errors only (`--debug` wins over it).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Upstart's re-exec marker: the startup event is not emitted (outset's own re-exec
    /// passes `--state-fd` instead).
    #[arg(long)]
    pub restart: bool,
    /// Upstart: also write the re-exec state to a file. Accepted and ignored: outset hands
    /// its state over in memory, and keeps a refused one in `outset-state.refused.json`.
    #[arg(long)]
    pub write_state_file: bool,
    /// Upstart: serve the D-Bus API on the session bus instead of the system bus (as
    /// `--user` does).
    #[arg(long)]
    pub session: bool,
    /// Upstart: join no D-Bus bus (the API stays on the private socket; `ready on dbus`
    /// conditions still look at the system bus). Same as `--dbus-bus none`.
    #[arg(long)]
    pub no_dbus: bool,
    /// Upstart: ignore `cgroup` stanzas. outset applies neither `cgroup` nor `resource`
    /// stanzas then (each job says so in `status --json`); its own per-instance cgroups are
    /// how it tracks jobs, so they stay.
    #[arg(long)]
    pub no_cgroups: bool,
    /// Upstart: disable chroot sessions (its code names the flag `--chroot-sessions`).
    /// outset has no chroot sessions: both are accepted and ignored.
    #[arg(long, alias = "chroot-sessions")]
    pub no_sessions: bool,
    /// The default runlevel a boot word (`single`, `S`, `1`…`5`, `emergency`) asked for;
    /// the `startup` event carries it as `DEFAULT_RUNLEVEL`.
    #[arg(skip)]
    pub default_runlevel: Option<char>,
    /// Words of the command line that mean nothing to outset (logged, then ignored).
    #[arg(skip)]
    pub ignored: Vec<String>,
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
            "the re-exec state is handed over in memory (a refused one is kept beside the socket)",
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

/// What a word outside outset's own options means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootWord {
    /// A default runlevel, as sysvinit reads it from the kernel command line.
    Runlevel(char),
    /// Nothing outset acts on.
    Ignored,
}

/// sysvinit's and Upstart's words for the runlevel to boot into: `single`, `S`, `s`, `-s`,
/// `emergency` and `-b` are single-user (`S`); `1` to `5` are that runlevel.
pub fn boot_word(word: &str) -> BootWord {
    match word {
        "single" | "S" | "s" | "-s" | "emergency" | "-b" => BootWord::Runlevel('S'),
        w if w.len() == 1 && matches!(w.as_bytes()[0], b'1'..=b'5') => {
            BootWord::Runlevel(w.as_bytes()[0] as char)
        }
        _ => BootWord::Ignored,
    }
}

/// outset's long options, each with whether it takes a value.
fn known_options() -> Vec<(String, bool)> {
    let cmd = Args::command();
    let mut known: Vec<(String, bool)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let takes = a.get_action().takes_values();
            a.get_long().map(|l| (format!("--{l}"), takes))
        })
        .collect();
    // Short spellings (`-v`, `-q`) count as outset's own too.
    let shorts: Vec<(String, bool)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let takes = a.get_action().takes_values();
            a.get_short().map(|c| (format!("-{c}"), takes))
        })
        .collect();
    known.extend(shorts);
    let aliases: Vec<(String, bool)> = cmd
        .get_arguments()
        .flat_map(|a| {
            let takes = a.get_action().takes_values();
            a.get_all_aliases()
                .unwrap_or_default()
                .into_iter()
                .map(move |l| (format!("--{l}"), takes))
        })
        .collect();
    known.extend(aliases);
    known.push(("--help".into(), false));
    known.push(("--version".into(), false));
    known.push(("-h".into(), false));
    known.push(("-V".into(), false));
    known
}

/// Splits the command line (argv[0] first) into outset's own options, which clap then
/// parses, and every other word, which a PID 1 must not choke on.
pub fn split(argv: Vec<OsString>) -> (Vec<OsString>, Vec<String>) {
    let known = known_options();
    let mut iter = argv.into_iter();
    let mut ours: Vec<OsString> = iter.next().into_iter().collect();
    let mut other = Vec::new();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy().into_owned();
        let (name, inline) = match text.split_once('=') {
            Some((n, _)) if n.starts_with("--") => (n.to_string(), true),
            _ => (text.clone(), false),
        };
        match known.iter().find(|(k, _)| *k == name) {
            Some((_, takes)) => {
                ours.push(arg);
                if *takes
                    && !inline
                    && let Some(value) = iter.next()
                {
                    ours.push(value);
                }
            }
            None => other.push(text),
        }
    }
    (ours, other)
}

/// Parses the command line as PID 1 needs it: outset's own options as clap defines them;
/// every other word is a boot word ([`boot_word`]) or recorded as ignored. Only a bad value
/// of one of outset's own options (or `--help`, `--version`) is an error.
pub fn parse(argv: Vec<OsString>) -> Result<Args, clap::Error> {
    let (ours, other) = split(argv);
    let mut args = Args::try_parse_from(ours)?;
    for word in other {
        match boot_word(&word) {
            BootWord::Runlevel(level) => args.default_runlevel = Some(level),
            BootWord::Ignored => args.ignored.push(word),
        }
    }
    Ok(args)
}

/// The options with every default (what a PID 1 runs with when its own options are bad).
pub fn defaults() -> Args {
    Args::parse_from(["outset"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("outset")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn issue13_item1_boot_words_never_fail_the_parse() {
        let a = parse(argv(&["single", "splash", "quiet", "--verbose", "-z", "x"])).unwrap();
        assert_eq!(a.default_runlevel, Some('S'));
        assert!(a.verbose);
        assert_eq!(a.ignored, ["splash", "quiet", "-z", "x"]);
        for (word, level) in [("S", 'S'), ("emergency", 'S'), ("-s", 'S'), ("3", '3')] {
            assert_eq!(parse(argv(&[word])).unwrap().default_runlevel, Some(level));
        }
        // 0 and 6 are not runlevels to boot into.
        let a = parse(argv(&["6", "--unknown-option"])).unwrap();
        assert_eq!(a.default_runlevel, None);
        assert_eq!(a.ignored, ["6", "--unknown-option"]);
    }

    #[test]
    fn issue13_item1_own_options_keep_their_values() {
        let a = parse(argv(&[
            "--confdir",
            "/a",
            "5",
            "--socket=/s",
            "--debug",
            "auto",
        ]))
        .unwrap();
        assert_eq!(a.confdirs, [PathBuf::from("/a")]);
        assert_eq!(a.socket, Some(PathBuf::from("/s")));
        assert!(a.debug);
        assert_eq!(a.default_runlevel, Some('5'));
        assert_eq!(a.ignored, ["auto"]);
        // A bad value of outset's own option is still an error (PID 1 then uses defaults).
        assert!(parse(argv(&["--track", "nonsense"])).is_err());
        assert_eq!(defaults().startup_event, "startup");
    }
}
