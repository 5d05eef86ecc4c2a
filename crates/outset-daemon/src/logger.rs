//! The daemon's own log sink: one line per record, `outset: LEVEL: message`, on stderr; as
//! PID 1 to the kernel log (`/dev/kmsg`), as Upstart's init did, with the record's syslog
//! priority, falling back to stderr if the kernel log cannot be written.
//!
//! Writes never block the loop for long and never fail loudly: a PID 1 cannot stop because its
//! console went away. The threshold is Upstart's `log-priority`, settable at run time.

use std::fs::File;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct DaemonLogger;

static LOGGER: DaemonLogger = DaemonLogger;

/// `/dev/kmsg`, once opened (PID 1 only).
static KMSG: OnceLock<File> = OnceLock::new();

/// Upstart's priority names, lowest first; `message` and `fatal` have no level of their own
/// in the `log` crate and share `info` and `error`.
const PRIORITIES: [(&str, LevelFilter); 6] = [
    ("debug", LevelFilter::Debug),
    ("info", LevelFilter::Info),
    ("message", LevelFilter::Info),
    ("warn", LevelFilter::Warn),
    ("error", LevelFilter::Error),
    ("fatal", LevelFilter::Error),
];

/// The index in [`PRIORITIES`] last set.
static PRIORITY: AtomicU8 = AtomicU8::new(1);

/// The longest record the kernel log takes in one write (it keeps 1024 bytes a record).
const KMSG_MAX: usize = 976;

impl Log for DaemonLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if let Some(k) = KMSG.get() {
            let line = kmsg_line(record.level(), &record.args().to_string());
            // One write is one record; on failure the line goes to stderr instead.
            let mut k: &File = k;
            if k.write(line.as_bytes()).is_ok() {
                return;
            }
        }
        let line = format!(
            "outset: {}: {}\n",
            level_name(record.level()),
            record.args()
        );
        // Ignored on purpose: there is nowhere else to report a failed log write.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// A kernel log record: `<PRI>outset: message`, the syslog priority of the level (facility
/// daemon), on one line, cut to what the kernel keeps.
pub fn kmsg_line(level: Level, message: &str) -> String {
    let pri = match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    };
    // LOG_DAEMON is facility 3.
    let mut line = format!("<{}>outset: {}", 3 * 8 + pri, message.replace('\n', " "));
    if line.len() > KMSG_MAX {
        let mut cut = KMSG_MAX;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line.push('\n');
    line
}

/// Installs the logger with the threshold `level` (`--debug`, `--quiet`, `--verbose`).
pub fn init(level: LevelFilter) {
    // A second install fails harmlessly (only happens in tests).
    let _ = log::set_logger(&LOGGER);
    let name = match level {
        LevelFilter::Off | LevelFilter::Error => "error",
        LevelFilter::Warn => "warn",
        LevelFilter::Info => "info",
        LevelFilter::Debug | LevelFilter::Trace => "debug",
    };
    let _ = set_priority(name);
}

/// As PID 1: records go to the kernel log from now on (stderr if it cannot be opened).
pub fn to_kmsg() {
    to_kernel_log(std::path::Path::new("/dev/kmsg"));
}

/// Records go to `path`, one write per record, from now on.
fn to_kernel_log(path: &std::path::Path) {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => {
            let _ = KMSG.set(f);
        }
        Err(e) => log::warn!("cannot open {} ({e}); logging to stderr", path.display()),
    }
}

/// The current priority, as Upstart names it.
pub fn priority() -> String {
    let i = usize::from(PRIORITY.load(Ordering::Relaxed));
    PRIORITIES.get(i).map_or("info", |p| p.0).to_string()
}

/// Sets the priority by Upstart's name.
pub fn set_priority(name: &str) -> Result<(), String> {
    let Some(i) = PRIORITIES.iter().position(|p| p.0 == name) else {
        return Err(format!(
            "unknown priority `{name}` (debug, info, message, warn, error or fatal)"
        ));
    };
    let (_, filter) = PRIORITIES[i];
    log::set_max_level(filter);
    PRIORITY.store(u8::try_from(i).unwrap_or(1), Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue14_item7_kernel_log_records() {
        assert_eq!(kmsg_line(Level::Error, "boom"), "<27>outset: boom\n");
        assert_eq!(kmsg_line(Level::Info, "a\nb"), "<30>outset: a b\n");
        let long = kmsg_line(Level::Warn, &"é".repeat(2000));
        assert!(long.len() <= KMSG_MAX + 1 && long.ends_with('\n'));
    }

    /// Issue 14 item 7: once the kernel log is open, records go there with their syslog
    /// priority (a file stands in for /dev/kmsg); the level is set by Upstart's names. One
    /// test: the logger and its level are the process's.
    #[test]
    fn issue14_item7_kernel_log_and_priorities() {
        let dir = tempfile::tempdir().unwrap();
        let kmsg = dir.path().join("kmsg");
        std::fs::write(&kmsg, "").unwrap();
        init(LevelFilter::Info);
        to_kernel_log(&kmsg);
        log::error!("issue14 kernel log record");
        log::debug!("issue14 not at info");
        let text = std::fs::read_to_string(&kmsg).unwrap();
        // Other tests of this process may log here too: only these two lines are checked.
        assert!(
            text.contains("<27>outset: issue14 kernel log record\n"),
            "{text:?}"
        );
        assert!(!text.contains("not at info"), "{text:?}");
        for (name, _) in PRIORITIES {
            set_priority(name).unwrap();
            assert_eq!(priority(), name);
        }
        set_priority("warn").unwrap();
        assert_eq!(log::max_level(), LevelFilter::Warn);
        assert!(
            set_priority("loud")
                .unwrap_err()
                .contains("unknown priority")
        );
        assert_eq!(priority(), "warn");
        set_priority("info").unwrap();
    }
}
