//! One D-Bus connection of the loop: a peer of the private socket or the daemon's own
//! connection to a bus. Non-blocking both ways, with bounded buffers: a peer that sends
//! faster than it is served waits in the kernel, one that does not read its replies is cut
//! off, and neither ever stalls the loop.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use outset_dbus::Message;
use outset_dbus::auth::{Server, Step};
use outset_sys::poll::Interest;

/// Bytes read from one connection per loop turn.
pub const READ_PER_TURN: usize = 64 * 1024;
/// Messages taken from one connection per turn; the rest wait for the next turn.
pub const MESSAGES_PER_TURN: usize = 64;
/// While more than this waits to be written to a peer, nothing more is read from it.
pub const OUT_BOUND: usize = 1 << 20;
/// Past this much unwritten output (signals keep coming), the connection is dropped.
pub const OUT_LIMIT: usize = 4 << 20;
/// How long a connection may stay over [`OUT_BOUND`] without reading anything.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum Handshake {
    /// A private-socket peer still authenticating.
    Server(Server),
    /// Our connection to a bus, waiting for `OK` to its `AUTH EXTERNAL`.
    Client,
    /// Messages both ways.
    Open,
}

pub struct Link {
    pub stream: UnixStream,
    /// The peer's uid (SO_PEERCRED) on the private socket; unused for a bus.
    pub uid: u32,
    pub is_bus: bool,
    handshake: Handshake,
    input: Vec<u8>,
    output: Vec<u8>,
    serial: u32,
    over_since: Option<Instant>,
    /// The peer is gone or misbehaved: the connection is to be closed.
    pub broken: Option<String>,
    /// What the poller was last told to watch for.
    pub watched: Interest,
    /// Bytes of a message too large to take, still to be thrown away (the bus only).
    discard: u64,
}

impl Link {
    /// A private-socket peer, to be authenticated with `guid` as the server's id.
    pub fn peer(stream: UnixStream, uid: u32, guid: &str) -> Link {
        Link::new(
            stream,
            uid,
            false,
            Handshake::Server(Server::new(uid, guid)),
        )
    }

    /// A connection to a bus: the `AUTH` line goes out at once.
    pub fn bus(stream: UnixStream) -> Link {
        let mut l = Link::new(stream, 0, true, Handshake::Client);
        l.output = outset_dbus::auth::client_hello(outset_sys::process::euid());
        l.flush();
        l
    }

    fn new(stream: UnixStream, uid: u32, is_bus: bool, handshake: Handshake) -> Link {
        Link {
            stream,
            uid,
            is_bus,
            handshake,
            input: Vec::new(),
            output: Vec::new(),
            serial: 0,
            over_since: None,
            broken: None,
            watched: Interest {
                read: true,
                write: false,
            },
            discard: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.handshake, Handshake::Open)
    }

    /// Reads what is there (up to [`READ_PER_TURN`]) unless the output is over its bound.
    pub fn fill(&mut self) {
        if self.broken.is_some() || self.output.len() > OUT_BOUND {
            return;
        }
        let mut buf = [0u8; 16 * 1024];
        let mut taken = 0;
        while taken < READ_PER_TURN {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.broken = Some("closed by the peer".into());
                    break;
                }
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    taken += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.broken = Some(format!("read: {e}"));
                    break;
                }
            }
        }
        self.handshake();
    }

    /// Moves the handshake on with what has arrived.
    fn handshake(&mut self) {
        match &mut self.handshake {
            Handshake::Open => {}
            Handshake::Server(server) => match server.feed(&mut self.input, &mut self.output) {
                Step::More => {}
                Step::Done => self.handshake = Handshake::Open,
                Step::Fail(why) => self.broken = Some(format!("authentication: {why}")),
            },
            Handshake::Client => {
                let Some(end) = self.input.windows(2).position(|w| w == b"\r\n") else {
                    if self.input.len() > outset_dbus::auth::MAX_LINE {
                        self.broken = Some("the bus sent an over-long auth line".into());
                    }
                    return;
                };
                let line: Vec<u8> = self.input.drain(..end + 2).collect();
                if line.starts_with(b"OK ") {
                    self.output.extend_from_slice(b"BEGIN\r\n");
                    self.handshake = Handshake::Open;
                } else {
                    self.broken = Some(format!(
                        "the bus refused authentication: {}",
                        String::from_utf8_lossy(&line).trim()
                    ));
                }
            }
        }
        self.flush();
    }

    /// The next complete message, if the handshake is done. A stream that is not D-Bus
    /// breaks the connection.
    pub fn next_message(&mut self) -> Option<Message> {
        // Over the output bound, a peer's calls wait until it reads its replies.
        if !self.is_open() || self.broken.is_some() || self.output.len() > OUT_BOUND {
            return None;
        }
        loop {
            if self.discard > 0 {
                let n = usize::try_from(self.discard)
                    .unwrap_or(usize::MAX)
                    .min(self.input.len());
                self.input.drain(..n);
                self.discard -= n as u64;
                if self.discard > 0 {
                    return None;
                }
            }
            let complete = matches!(
                outset_dbus::message::frame_len(&self.input),
                Ok(Some(n)) if n <= self.input.len()
            );
            match outset_dbus::message::take(&mut self.input) {
                Ok(m) => return m,
                // The bus checked the message; one outset cannot take (too large, nested
                // deeper than outset goes) is skipped: any caller on the bus could send one,
                // and the daemon's place on the bus must not hang on it.
                Err(e) if self.is_bus => {
                    log::warn!("D-Bus: skipping a message from the bus: {e}");
                    if !complete {
                        match outset_dbus::message::declared_len(&self.input) {
                            Some(n) => self.discard = n,
                            None => {
                                self.broken = Some(format!("malformed message: {e}"));
                                return None;
                            }
                        }
                    }
                }
                Err(e) => {
                    self.broken = Some(format!("malformed message: {e}"));
                    self.input.clear();
                    return None;
                }
            }
        }
    }

    /// Whether a complete message is waiting in the input.
    pub fn has_backlog(&self) -> bool {
        self.discard == 0
            && self.is_open()
            && self.broken.is_none()
            && self.output.len() <= OUT_BOUND
            && matches!(outset_dbus::message::frame_len(&self.input), Ok(Some(n)) if n <= self.input.len())
    }

    /// Queues `m` with the next serial; returns the serial.
    pub fn send(&mut self, mut m: Message) -> u32 {
        self.serial = self.serial.wrapping_add(1).max(1);
        m.serial = self.serial;
        if self.broken.is_none() {
            self.output.extend_from_slice(&m.encode());
            self.flush();
        }
        m.serial
    }

    /// Writes what it can without blocking; enforces the output bounds.
    pub fn flush(&mut self) {
        while !self.output.is_empty() && self.broken.is_none() {
            match self.stream.write(&self.output) {
                Ok(0) => self.broken = Some("write returned 0".into()),
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => self.broken = Some(format!("write: {e}")),
            }
        }
        if self.output.len() > OUT_LIMIT {
            self.broken = Some(format!(
                "more than {OUT_LIMIT} bytes unread by the peer; dropped"
            ));
        }
        if self.output.len() > OUT_BOUND {
            let since = *self.over_since.get_or_insert_with(Instant::now);
            if since.elapsed() > STALL_LIMIT {
                self.broken = Some("the peer has not read its replies for 10 s; dropped".into());
            }
        } else {
            self.over_since = None;
        }
        if self.output.capacity() > 64 * 1024 && self.output.len() < 16 * 1024 {
            self.output.shrink_to(16 * 1024);
        }
    }

    /// When the loop must look at this connection again though nothing is readable.
    pub fn wake_at(&self) -> Option<Instant> {
        self.over_since.map(|t| t + STALL_LIMIT)
    }

    /// What the poller should watch for.
    pub fn interest(&self) -> Interest {
        Interest {
            read: self.output.len() <= OUT_BOUND,
            write: !self.output.is_empty(),
        }
    }
}
