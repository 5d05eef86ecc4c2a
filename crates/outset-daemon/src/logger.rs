//! The daemon's own log sink: one line per record on stderr, `outset: LEVEL message`.
//!
//! Writes never block the loop for long and never fail loudly: a PID 1 cannot stop because its
//! console went away.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let line = format!("outset: {level}: {}\n", record.args());
        // Ignored on purpose: there is nowhere else to report a failed log write.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the logger with the threshold `level`.
pub fn init(level: LevelFilter) {
    // A second install fails harmlessly (only happens in tests).
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
