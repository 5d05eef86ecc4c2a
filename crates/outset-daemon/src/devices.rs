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
            // The kernel's format comes from the kernel only, udev's from a process on
            // udev's group only (sending to these groups needs CAP_NET_ADMIN anyway).
            let trusted = match (sender, ev.origin) {
                (Sender::Local, _) | (Sender::Kernel, Origin::Kernel) => true,
                (Sender::Process { groups, .. }, Origin::Udev) => groups & GROUP_UDEV != 0,
                _ => false,
            };
            if !trusted {
                log::warn!("uevent from an unexpected sender ({sender:?}) ignored");
                continue;
            }
            let take = match self.source {
                Source::Kernel => ev.origin == Origin::Kernel,
                Source::Udev => ev.origin == Origin::Udev,
                // With the test hook every message is taken: the test says what it sends.
                Source::Auto => uevent::take(
                    ev.origin,
                    self.hook.is_none()
                        && *udevd.get_or_insert_with(outset_sys::uevent::udevd_running),
                ),
            };
            if !take {
                continue;
            }
            match ev.event() {
                Ok(e) => events.push(e),
                Err(e) => log::debug!("uevent ignored: {e}"),
            }
        }
        events
    }
}
