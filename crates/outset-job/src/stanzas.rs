//! Every stanza the parser accepts, with its synopsis and what it does: the parser refuses a
//! keyword that is not listed here, and `outset-job(5)` is generated from this list, so the
//! manual cannot leave a stanza out.

/// Where a stanza comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Upstart 1.13.
    Upstart,
    /// ChromiumOS's Upstart.
    ChromiumOs,
    /// outset's own (Upstart reports it as unknown).
    Outset,
}

/// One form of a stanza.
#[derive(Debug, Clone, Copy)]
pub struct StanzaDoc {
    /// The first word, which the parser dispatches on.
    pub keyword: &'static str,
    /// The form: `kill timeout SECONDS`.
    pub synopsis: &'static str,
    pub origin: Origin,
    /// What it does, in plain text.
    pub text: &'static str,
    /// A job file fragment using it (checked to parse by the tests).
    pub example: &'static str,
}

const fn s(
    keyword: &'static str,
    synopsis: &'static str,
    origin: Origin,
    text: &'static str,
    example: &'static str,
) -> StanzaDoc {
    StanzaDoc {
        keyword,
        synopsis,
        origin,
        text,
        example,
    }
}

use Origin::{ChromiumOs, Outset, Upstart};

/// The stanzas, in the order the manual lists them.
pub const STANZAS: &[StanzaDoc] = &[
    s(
        "description",
        "description TEXT",
        Upstart,
        "Documentation only: one value (quote text with spaces). A later one replaces it.",
        "description \"the web server\"",
    ),
    s(
        "author",
        "author TEXT",
        Upstart,
        "Documentation only: one value.",
        "author \"Ops <ops@example.org>\"",
    ),
    s(
        "version",
        "version TEXT",
        Upstart,
        "Documentation only: one value.",
        "version 1.2",
    ),
    s(
        "usage",
        "usage TEXT",
        Upstart,
        "Shown by `outsetctl usage JOB`, and added to the error when an instance name cannot be expanded.",
        "usage \"start web PORT=N\"",
    ),
    s(
        "emits",
        "emits EVENT...",
        Upstart,
        "The events the job emits; documentation, and what `check-config` takes as emitted. Accumulates.",
        "emits web-ready web-failed",
    ),
    s(
        "start",
        "start on EXPRESSION",
        Upstart,
        "Start the job when the event expression becomes true (see EVENT EXPRESSIONS). A later one replaces it.",
        "start on (filesystem and net-device-up IFACE!=lo)",
    ),
    s(
        "stop",
        "stop on EXPRESSION",
        Upstart,
        "Stop the job when the event expression becomes true.",
        "stop on runlevel [!2345]",
    ),
    s(
        "manual",
        "manual",
        Upstart,
        "Ignore any `start on` given before it: the job starts only when asked.",
        "manual",
    ),
    s(
        "task",
        "task",
        Upstart,
        "The job runs to completion: a waiting `start` returns once it has stopped.",
        "task",
    ),
    s(
        "instance",
        "instance TEMPLATE",
        Upstart,
        "Several instances may run at once, one per expansion of TEMPLATE (`$VAR`, `${VAR:-word}`, ...) from the starting event's environment.",
        "instance $TTY",
    ),
    s(
        "exec",
        "exec COMMAND [ARG]...",
        Upstart,
        "The main process: the rest of the line, run directly, or by `/bin/sh -e -c` when it holds shell characters.",
        "exec /usr/sbin/web --foreground",
    ),
    s(
        "script",
        "script ... end script",
        Upstart,
        "The main process as a shell script: the lines up to `end script`, run by `/bin/sh -e`.",
        "script\n  echo hello\nend script",
    ),
    s(
        "pre-start",
        "pre-start exec COMMAND | pre-start script ... end script",
        Upstart,
        "Runs before the main process; a failure fails the start.",
        "pre-start exec mkdir -p /run/web",
    ),
    s(
        "post-start",
        "post-start exec COMMAND | post-start script ... end script",
        Upstart,
        "Runs once the main process has started; `started` waits for it.",
        "post-start exec logger web up",
    ),
    s(
        "pre-stop",
        "pre-stop exec COMMAND | pre-stop script ... end script",
        Upstart,
        "Runs before the main process is signalled to stop.",
        "pre-stop exec logger web stopping",
    ),
    s(
        "post-stop",
        "post-stop exec COMMAND | post-stop script ... end script",
        Upstart,
        "Runs after the main process has exited.",
        "post-stop script\n  rm -f /run/web/pid\nend script",
    ),
    s(
        "respawn",
        "respawn",
        Upstart,
        "Restart the main process when it exits other than by a stop or a normal exit.",
        "respawn",
    ),
    s(
        "respawn",
        "respawn limit COUNT INTERVAL | respawn limit unlimited",
        Upstart,
        "Give up after COUNT respawns within INTERVAL seconds (default 10 5; 0 for either means no limit). Does not switch `respawn` on.",
        "respawn limit 5 30",
    ),
    s(
        "respawn",
        "respawn delay SECONDS [max SECONDS]",
        Outset,
        "Wait SECONDS before each respawn, doubling up to `max`; a run that stayed up for at least `max` (and 10 s) resets the pause. Does not switch `respawn` on.",
        "respawn delay 1 max 60",
    ),
    s(
        "normal",
        "normal exit STATUS|SIGNAL...",
        Upstart,
        "Exit statuses (0 to 255) and signals (`TERM`, `SIGTERM`, `SIG15`) that are not failures and are not respawned. Accumulates.",
        "normal exit 0 2 TERM",
    ),
    s(
        "expect",
        "expect stop|fork [N]|daemon|none|notify|exit N",
        Upstart,
        "How the main process starts: `fork` and `daemon` count one and two exits of the launch chain (`fork N`, `exit N`: N exits, outset's own), `stop` waits for SIGSTOP, `notify` for READY=1 on the job's NOTIFY_SOCKET (outset's own).",
        "expect fork",
    ),
    s(
        "kill",
        "kill signal SIGNAL",
        Upstart,
        "The signal that stops the main process (default TERM).",
        "kill signal INT",
    ),
    s(
        "kill",
        "kill timeout SECONDS",
        Upstart,
        "How long after the stop signal before SIGKILL (default 5); also bounds a hook still running once a stop is asked for.",
        "kill timeout 30",
    ),
    s(
        "reload",
        "reload signal SIGNAL",
        Upstart,
        "The signal `outsetctl reload` sends (default HUP).",
        "reload signal USR1",
    ),
    s(
        "console",
        "console log|output|owner|none",
        Upstart,
        "Where the job's output goes: `log` (the default, or the daemon's --default-console) into LOGDIR/JOB.log through a pty, `output` and `owner` the console, `none` /dev/null.",
        "console output",
    ),
    s(
        "env",
        "env KEY=VALUE | env KEY",
        Upstart,
        "A variable of the job's environment (`KEY` alone copies the daemon's). Accumulates; at most 4096 per job, each under 128 KiB, 1 MiB in all.",
        "env PORT=8080",
    ),
    s(
        "export",
        "export VARIABLE...",
        Upstart,
        "Variables added to the job's own events (`starting`, `started`, ...). Accumulates.",
        "export PORT",
    ),
    s(
        "setuid",
        "setuid USER",
        Upstart,
        "Run the job's processes as this user (name or number).",
        "setuid www-data",
    ),
    s(
        "setgid",
        "setgid GROUP",
        Upstart,
        "Run the job's processes with this group (name or number).",
        "setgid www-data",
    ),
    s(
        "chdir",
        "chdir DIRECTORY",
        Upstart,
        "The working directory of the job's processes.",
        "chdir /srv/web",
    ),
    s(
        "chroot",
        "chroot DIRECTORY",
        Upstart,
        "The root directory of the job's processes.",
        "chroot /srv/jail",
    ),
    s(
        "limit",
        "limit RESOURCE SOFT HARD",
        Upstart,
        "A resource limit (as, core, cpu, data, fsize, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, sigpending, stack); each value a number or `unlimited`. One per resource.",
        "limit nofile 4096 8192",
    ),
    s(
        "nice",
        "nice N",
        Upstart,
        "The scheduling priority, -20 to 19.",
        "nice 5",
    ),
    s(
        "oom",
        "oom score N|never | oom N|never",
        Upstart,
        "The OOM killer's score adjustment, -1000 to 1000 (`never`: -1000); the legacy form takes -17 to 15, scaled as Upstart does.",
        "oom score -500",
    ),
    s(
        "umask",
        "umask MASK",
        Upstart,
        "The file mode creation mask, octal, at most 0777.",
        "umask 027",
    ),
    s(
        "apparmor",
        "apparmor load PATH | apparmor switch PROFILE",
        Upstart,
        "Parsed and shown; outset does not act on it.",
        "apparmor switch /usr/sbin/web",
    ),
    s(
        "cgroup",
        "cgroup CONTROLLER [NAME] [KEY VALUE]",
        Upstart,
        "A setting of the instance's cgroup, applied on cgroup v2 (v1 keys mapped). Accumulates.",
        "cgroup memory memory.limit_in_bytes 52428800",
    ),
    s(
        "debug",
        "debug",
        Upstart,
        "Parsed and shown; outset does not act on it.",
        "debug",
    ),
    s(
        "import",
        "import VARIABLE...",
        ChromiumOs,
        "Parsed and shown; outset does not act on it. Accumulates.",
        "import MODE",
    ),
    s(
        "tmpfiles",
        "tmpfiles PATH...",
        ChromiumOs,
        "Parsed and shown; outset does not act on it. Accumulates.",
        "tmpfiles /usr/lib/tmpfiles.d/web.conf",
    ),
    s(
        "start",
        "start timeout SECONDS",
        Outset,
        "How long the launch chain may take to give its exits (expect fork, daemon, exit: default 10), or the job to become ready (expect notify, expect stop, ready on: default 90) before it fails.",
        "start timeout 30",
    ),
    s(
        "ready",
        "ready on EXPRESSION",
        Outset,
        "The job is up (and `started` is emitted) once this holds: events as in `start on`, and `file PATH`, `listening tcp:[ADDR:]PORT|udp:[ADDR:]PORT|unix:PATH`, `dbus NAME`.",
        "ready on listening tcp:127.0.0.1:8080",
    ),
    s(
        "pid",
        "pid file PATH",
        Outset,
        "Once the launch chain has exited, the main process is the PID this file names, if that process belongs to the job.",
        "pid file /run/web.pid",
    ),
    s(
        "watchdog",
        "watchdog SECONDS",
        Outset,
        "With expect notify: without WATCHDOG=1 within SECONDS, the main process gets SIGABRT.",
        "watchdog 30",
    ),
    s(
        "track",
        "track cgroup|ptrace",
        Outset,
        "How the launch chain is followed: by the instance's cgroup (the default), or also with ptrace until the main process is known.",
        "track ptrace",
    ),
    s(
        "log",
        "log rotate SIZE KEEP | log rotate off",
        Outset,
        "Rotate this job's `console log` file once it would pass SIZE bytes (K, M, G suffixes), keeping KEEP old files (0 to 1000); `off`: never.",
        "log rotate 1M 3",
    ),
    s(
        "resource",
        "resource CONTROLLER SETTING VALUE [required]",
        Outset,
        "A cgroup v2 limit or weight on each instance: memory max|high|low|min|swap SIZE, cpu max PERCENT%, cpu weight N, io weight N, tasks max N, cpuset cpus|mems LIST. With `required` the start fails when the controller is unavailable.",
        "resource memory max 512M",
    ),
];

/// Whether the parser knows `word` as a stanza keyword.
pub fn is_keyword(word: &str) -> bool {
    STANZAS.iter().any(|s| s.keyword == word)
}
