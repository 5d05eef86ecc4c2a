//! The end of an init's life and its signals from the keyboard: `sync`, `reboot(2)`,
//! signalling every process, `KDSIGACCEPT`. Each refuses unless this process is PID 1 (of
//! the machine or of a PID namespace): a supervisor must never take the machine down.

use std::io;

use outset_proto::ShutdownAction;

fn not_init() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "refused: this process is not PID 1",
    )
}

/// Flushes every filesystem's dirty data.
pub fn sync() {
    rustix::fs::sync();
}

/// `reboot(2)` with the action's command: `RB_HALT_SYSTEM`, `RB_POWER_OFF` or
/// `RB_AUTOBOOT`. Returns only on failure. In a PID namespace the kernel ends the
/// namespace instead: its init dies with SIGHUP (restart) or SIGINT (halt, power-off), as
/// its parent sees.
pub fn reboot(action: ShutdownAction) -> io::Error {
    if crate::process::pid() != 1 {
        return not_init();
    }
    reboot_unchecked(action)
}

/// `reboot(2)` without the PID 1 check: only for `reboot -f` run by root when no daemon
/// answers (sysvinit's behaviour). Returns only on failure.
pub fn reboot_unchecked(action: ShutdownAction) -> io::Error {
    use rustix::system::RebootCommand;
    let cmd = match action {
        ShutdownAction::Halt => RebootCommand::Halt,
        ShutdownAction::Poweroff => RebootCommand::PowerOff,
        ShutdownAction::Reboot => RebootCommand::Restart,
        ShutdownAction::Single => {
            return io::Error::new(io::ErrorKind::InvalidInput, "not a reboot(2) command");
        }
    };
    match rustix::system::reboot(cmd) {
        Ok(()) => io::Error::other("reboot(2) returned"),
        Err(e) => e.into(),
    }
}

/// The local time of day in seconds (for `shutdown HH:MM`); UTC when the zone is unknown.
pub fn local_seconds_of_day() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let Ok(t) = libc::time_t::try_from(now) else {
        return now % 86_400;
    };
    // SAFETY: an all-zero `tm` is a valid value to be overwritten.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `t` and writes only into `tm`, both live locals.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return now % 86_400;
    }
    let secs = i64::from(tm.tm_hour) * 3600 + i64::from(tm.tm_min) * 60 + i64::from(tm.tm_sec);
    u64::try_from(secs).unwrap_or(0)
}

/// Sends `sig` to every process but this one (`kill(-1, sig)`; for PID 1 that is every
/// process of its PID namespace). False when there was none left.
pub fn signal_every_process(sig: i32) -> io::Result<bool> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if crate::process::pid() != 1 {
        return Err(not_init());
    }
    let sig = Signal::try_from(sig).map_err(io::Error::from)?;
    match kill(Pid::from_raw(-1), sig) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ESRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `KDSIGACCEPT`: the keyboard request (Alt-ArrowUp) reaches this process as `sig`
/// (SIGWINCH), through the first virtual console (or the console when there is none).
pub fn accept_kbd_requests(sig: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    const KDSIGACCEPT: libc::Ioctl = 0x4B4E;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags_noctty()
        .open("/dev/tty0")
        .or_else(|_| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags_noctty()
                .open("/dev/console")
        })?;
    // SAFETY: the fd is open for the duration of the call; KDSIGACCEPT takes an integer
    // argument, no pointer.
    let r = unsafe {
        libc::ioctl(
            tty.as_raw_fd(),
            KDSIGACCEPT,
            libc::c_ulong::from(sig as u32),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opening a terminal without making it the controlling one.
trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests are not PID 1: every call that could take the machine down refuses.
    #[test]
    fn issue13_item7_refused_unless_pid1() {
        assert_ne!(crate::process::pid(), 1);
        let e = reboot(ShutdownAction::Poweroff);
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        let e = signal_every_process(0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    }
}
