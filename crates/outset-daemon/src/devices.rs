//! Device events (`<subsystem>-device-<action>`, as `upstart-udev-bridge` emitted): the
//! uevent socket, open only while some job's condition names a device event, read a bounded
//! number of messages per turn of the loop. Parsing and naming are
//! `outset_engine::uevent`'s; the socket is `outset_sys::uevent`'s.

use std::os::fd::AsFd;
use std::path::PathBuf;

use outset_engine::uevent::{self, Origin};
use outset_sys::poll::Poller;
use outset_sys::uevent::{GROUP_KERNEL, GROUP_UDEV, Sender, UeventSocket};

/// At most this many messages are read per turn; the rest wait for the next (the socket is
/// level-triggered), so a coldplug burst never holds up control requests or reaping.
const MAX_PER_TURN: usize = 64;

/// Which messages are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// udevd's while udevd runs, else the kernel's.
    Auto,
    Kernel,
    Udev,
}

impl Source {
    pub fn from_arg(s: &str) -> Source {
        match s {
            "kernel" => Source::Kernel,
            "udev" => Source::Udev,
            _ => Source::Auto,
        }
    }

    fn groups(self) -> u32 {
        match self {
            Source::Auto => GROUP_KERNEL | GROUP_UDEV,
            Source::Kernel => GROUP_KERNEL,
            Source::Udev => GROUP_UDEV,
        }
    }
}

pub struct Devices {
    source: Source,
    /// `--uevent-socket` (tests): read from this Unix datagram socket instead.
    hook: Option<PathBuf>,
    socket: Option<UeventSocket>,
    /// Opening failed: said once, tried again on the next reload.
    failed: bool,
    buf: Vec<u8>,
}

impl Devices {
    pub fn new(source: Source, hook: Option<PathBuf>) -> Devices {
        Devices {
            source,
            hook,
            socket: None,
            failed: false,
            buf: Vec::new(),
        }
    }

    /// Opens the socket when `wanted` (a job names a device event) and closes it when not.
    pub fn want(&mut self, wanted: bool, poller: &Poller, token: u64) {
        if !wanted {
            if let Some(s) = self.socket.take() {
                let _ = poller.delete(s.as_fd());
                if let Some(path) = &self.hook {
                    let _ = std::fs::remove_file(path);
                }
                self.buf = Vec::new();
                log::info!("no job waits for a device event: uevents no longer read");
            }
            self.failed = false;
            return;
        }
        if self.socket.is_some() {
            return;
        }
        let opened = match &self.hook {
            Some(path) => UeventSocket::unix(path),
            None => UeventSocket::netlink(self.source.groups()),
        };
        let socket = match opened.and_then(|s| poller.add(s.as_fd(), token).map(|()| s)) {
            Ok(s) => s,
            Err(e) => {
                if !self.failed {
                    log::error!("cannot read uevents, no device event will be emitted: {e}");
                }
                self.failed = true;
                return;
            }
        };
        match &self.hook {
            Some(p) => log::info!("reading uevents from {} (test hook)", p.display()),
            None => log::info!("reading uevents ({:?} source)", self.source),
        }
        self.buf = vec![0; outset_sys::uevent::MAX_MESSAGE];
        self.socket = Some(socket);
    }

    /// The device events waiting (at most `MAX_PER_TURN` messages' worth).
    pub fn read(&mut self) -> Vec<(String, Vec<(String, String)>)> {
        let mut events = Vec::new();
        let Some(socket) = &self.socket else {
            return events;
        };
        let mut udevd = None;
        for _ in 0..MAX_PER_TURN {
            let (len, sender) = match socket.recv(&mut self.buf) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) if outset_sys::uevent::is_overflow(&e) => {
                    log::warn!("uevents were lost (the receive buffer overflowed)");
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    log::warn!("{e}");
                    continue;
                }
                Err(e) => {
                    log::error!("reading uevents: {e}");
                    break;
                }
            };
            let ev = match uevent::parse(&self.buf[..len]) {
                Ok(ev) => ev,
                Err(e) => {
                    log::debug!("uevent ignored: {e}");
                    continue;
                }
            };
            let mut udevd_running = || *udevd.get_or_insert_with(outset_sys::uevent::udevd_running);
            match accept(self.source, sender, ev.origin, &mut udevd_running) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(why) => {
                    log::warn!("uevent ignored: {why}");
                    continue;
                }
            }
            match ev.event() {
                Ok(e) => events.push(e),
                Err(e) => log::debug!("uevent ignored: {e}"),
            }
        }
        events
    }
}

/// Whether a parsed message is taken. Its sender must fit its format: the kernel's format
/// from the kernel only, udevd's from a process on udevd's group only (sending to either
/// group needs CAP_NET_ADMIN anyway); anything else is an error, logged. Then the source
/// choice decides; with `auto`, udevd's messages while udevd runs, else the kernel's. The
/// test hook's messages (no sender) are all taken under `auto`.
fn accept(
    source: Source,
    sender: Sender,
    origin: Origin,
    udevd_running: &mut dyn FnMut() -> bool,
) -> Result<bool, String> {
    match (sender, origin) {
        (Sender::Local, _) | (Sender::Kernel, Origin::Kernel) => {}
        (Sender::Process { groups, .. }, Origin::Udev) if groups & GROUP_UDEV != 0 => {}
        _ => {
            return Err(format!(
                "{origin:?} message from an unexpected sender ({sender:?})"
            ));
        }
    }
    Ok(match source {
        Source::Kernel => origin == Origin::Kernel,
        Source::Udev => origin == Origin::Udev,
        Source::Auto if sender == Sender::Local => true,
        Source::Auto => uevent::take(origin, origin == Origin::Kernel && udevd_running()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const UDEVD: Sender = Sender::Process {
        port: 4242,
        groups: GROUP_UDEV,
    };

    #[test]
    fn issue17_item3_senders_must_fit_the_format() {
        let mut no = || false;
        assert!(accept(Source::Auto, Sender::Kernel, Origin::Udev, &mut no).is_err());
        assert!(accept(Source::Auto, UDEVD, Origin::Kernel, &mut no).is_err());
        let other = Sender::Process {
            port: 7,
            groups: GROUP_KERNEL,
        };
        assert!(accept(Source::Auto, other, Origin::Udev, &mut no).is_err());
        assert_eq!(accept(Source::Auto, UDEVD, Origin::Udev, &mut no), Ok(true));
    }

    #[test]
    fn issue17_item3_auto_takes_udevd_while_it_runs_else_the_kernel() {
        let mut yes = || true;
        let mut no = || false;
        assert_eq!(
            accept(Source::Auto, Sender::Kernel, Origin::Kernel, &mut yes),
            Ok(false)
        );
        assert_eq!(
            accept(Source::Auto, Sender::Kernel, Origin::Kernel, &mut no),
            Ok(true)
        );
        assert_eq!(
            accept(Source::Auto, UDEVD, Origin::Udev, &mut yes),
            Ok(true)
        );
        assert_eq!(
            accept(Source::Kernel, UDEVD, Origin::Udev, &mut no),
            Ok(false)
        );
        assert_eq!(
            accept(Source::Kernel, Sender::Kernel, Origin::Kernel, &mut yes),
            Ok(true)
        );
        assert_eq!(
            accept(Source::Udev, Sender::Kernel, Origin::Kernel, &mut no),
            Ok(false)
        );
        // The test hook: everything under auto, whatever runs.
        assert_eq!(
            accept(Source::Auto, Sender::Local, Origin::Kernel, &mut yes),
            Ok(true)
        );
        assert_eq!(
            accept(Source::Kernel, Sender::Local, Origin::Udev, &mut no),
            Ok(false)
        );
    }
}
