//! One D-Bus connection of the loop: a peer of the private socket or the daemon's own
//! connection to a bus. Non-blocking both ways, with bounded buffers: a peer that sends
//! faster than it is served waits in the kernel, one that does not read its replies is cut
//! off, and neither ever stalls the loop.

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use outset_dbus::Message;
use outset_dbus::auth::{Client, Server, Step};
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
/// Fds one message may carry (Upstart's one method with an fd takes one; libdbus's
/// default limit is 16 per message).
pub const MAX_FDS_PER_MESSAGE: usize = 16;
/// Fds received and not yet handed out with their messages: reading pauses at this many,
/// and a peer that reaches it without completing a message is cut off.
pub const MAX_QUEUED_FDS: usize = 64;

/// A message and the fds that came with it (closed when dropped), or why they do not
/// match what its `UNIX_FDS` header says.
pub type Fds = Result<Vec<OwnedFd>, String>;

#[derive(Debug)]
enum Handshake {
    /// A private-socket peer still authenticating.
    Server(Server),
    /// Our connection to a bus, waiting for `OK` to its `AUTH EXTERNAL`, then for the
    /// answer to `NEGOTIATE_UNIX_FD`.
    Client(Client),
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
    /// Fd passing was negotiated: the peer may send fds with its messages.
    pub fds_ok: bool,
    /// Fds received, each with the stream offset just past the read that brought it: a
    /// message takes those that arrived by its last byte (the kernel hands fds out with
    /// the bytes they were sent with, and never reads past them in the same call).
    fd_queue: VecDeque<(u64, OwnedFd)>,
    /// Bytes received on the stream in all (handshake included).
    received: u64,
}

impl Link {
    /// A private-socket peer, to be authenticated with `guid` as the server's id; with
    /// `fds`, fd passing is agreed to if the peer asks (only for callers that may change
    /// state: the one method taking an fd is theirs alone).
    pub fn peer(stream: UnixStream, uid: u32, guid: &str, fds: bool) -> Link {
        let server = Server::new(uid, guid);
        let server = if fds { server.allow_fds() } else { server };
        Link::new(stream, uid, false, Handshake::Server(server))
    }

    /// A connection to a bus: the `AUTH` line goes out at once.
    pub fn bus(stream: UnixStream) -> Link {
        let mut l = Link::new(stream, 0, true, Handshake::Client(Client::default()));
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
            fds_ok: false,
            fd_queue: VecDeque::new(),
            received: 0,
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
        while taken < READ_PER_TURN && self.fd_queue.len() < MAX_QUEUED_FDS {
            match outset_sys::fdpass::recv_with_fds(
                self.stream.as_fd(),
                &mut buf,
                MAX_FDS_PER_MESSAGE,
            ) {
                Ok(r) if r.len == 0 => {
                    self.broken = Some("closed by the peer".into());
                    break;
                }
                Ok(r) => {
                    self.input.extend_from_slice(&buf[..r.len]);
                    self.received += r.len as u64;
                    taken += r.len;
                    // Whether fds were agreed to is judged once the handshake has seen
                    // this read (BEGIN and the first message may come in one).
                    let at = self.received;
                    self.fd_queue.extend(r.fds.into_iter().map(|fd| (at, fd)));
                    if r.truncated {
                        let why = format!("more than {MAX_FDS_PER_MESSAGE} fds sent at once");
                        if self.is_bus {
                            // The message they came with will not match its header.
                            log::warn!("D-Bus: the bus sent {why}; the rest were closed");
                        } else {
                            self.broken = Some(why);
                            break;
                        }
                    }
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
        if !self.fds_ok && !self.fd_queue.is_empty() && self.is_open() {
            let why = "fds sent without fd passing negotiated";
            if self.is_bus {
                log::warn!("D-Bus: the bus sent fds: {why}; closed");
            } else {
                self.broken = Some(why.into());
            }
            // Closed at once.
            self.fd_queue.clear();
        }
    }

    /// Moves the handshake on with what has arrived.
    fn handshake(&mut self) {
        match &mut self.handshake {
            Handshake::Open => {}
            Handshake::Server(server) => match server.feed(&mut self.input, &mut self.output) {
                Step::More => {}
                Step::Done => {
                    self.fds_ok = server.fds_agreed();
                    self.handshake = Handshake::Open;
                }
                Step::Fail(why) => self.broken = Some(format!("authentication: {why}")),
            },
            Handshake::Client(client) => match client.feed(&mut self.input, &mut self.output) {
                Step::More => {}
                Step::Done => {
                    self.fds_ok = client.fds_agreed();
                    if !self.fds_ok {
                        log::info!(
                            "D-Bus: the bus declined fd passing (no EmitEventWithFile through it)"
                        );
                    }
                    self.handshake = Handshake::Open;
                }
                Step::Fail(why) => {
                    self.broken = Some(format!("the bus refused authentication: {why}"))
                }
            },
        }
        self.flush();
    }

    /// The next complete message with its fds, if the handshake is done. A stream that is
    /// not D-Bus breaks the connection.
    pub fn next_message(&mut self) -> Option<(Message, Fds)> {
        let m = self.next_message_only()?;
        let end = self.received - self.input.len() as u64;
        let mut fds = Vec::new();
        while self.fd_queue.front().is_some_and(|(at, _)| *at <= end) {
            if let Some((_, fd)) = self.fd_queue.pop_front() {
                fds.push(fd);
            }
        }
        let fds = if fds.len() != m.unix_fds as usize {
            Err(format!(
                "the message says it carries {} fds, {} came with it",
                m.unix_fds,
                fds.len()
            ))
        } else if !m.fd_indexes_valid() {
            Err("an fd argument indexes past the fds the message carries".into())
        } else {
            Ok(fds)
        };
        Some((m, fds))
    }

    fn next_message_only(&mut self) -> Option<Message> {
        // Over the output bound, a peer's calls wait until it reads its replies.
        if !self.is_open() || self.broken.is_some() || self.output.len() > OUT_BOUND {
            return None;
        }
        let m = self.take_message();
        if m.is_none() && self.fd_queue.len() >= MAX_QUEUED_FDS && !self.is_bus {
            self.broken = Some(format!(
                "{MAX_QUEUED_FDS} fds sent without the messages they belong to"
            ));
        }
        m
    }

    fn take_message(&mut self) -> Option<Message> {
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
                    if complete {
                        // Its fds go with it.
                        let end = self.received - self.input.len() as u64;
                        while self.fd_queue.front().is_some_and(|(at, _)| *at <= end) {
                            self.fd_queue.pop_front();
                        }
                    } else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use outset_dbus::Value;
    use std::io::Write;

    fn call(serial: u32, unix_fds: u32, fd_arg: bool) -> Vec<u8> {
        let mut body = vec![Value::Str("e".into())];
        if fd_arg {
            body.push(Value::Fd(0));
        }
        let mut m = Message::method_call("/com/ubuntu/Upstart", "x.y", "M", body);
        m.serial = serial;
        m.unix_fds = unix_fds;
        m.encode()
    }

    /// A private peer past its handshake, with fd passing agreed or not.
    fn open_peer(fds: bool) -> (Link, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let uid = outset_sys::process::euid();
        let mut link = Link::peer(ours, uid, "0123456789abcdef0123456789abcdef", fds);
        let mut hello = outset_dbus::auth::client_hello(uid);
        hello.extend_from_slice(b"NEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
        (&theirs).write_all(&hello).unwrap();
        link.fill();
        assert!(link.is_open());
        assert_eq!(link.fds_ok, fds);
        (link, theirs)
    }

    fn pipe_fd() -> OwnedFd {
        OwnedFd::from(std::io::pipe().unwrap().0)
    }

    /// Issue 16: fds go to the message they came with, even when several messages come in
    /// one read; a message whose fds do not match its header is refused, the rest served.
    #[test]
    fn issue16_fds_are_matched_to_their_messages() {
        let (mut link, theirs) = open_peer(true);
        let fd = pipe_fd();
        (&theirs).write_all(&call(1, 0, false)).unwrap();
        outset_sys::fdpass::send_with_fds(theirs.as_fd(), &call(2, 1, true), &[fd.as_fd()])
            .unwrap();
        // Header says 1, none came; then two came for a header of 1.
        (&theirs).write_all(&call(3, 1, true)).unwrap();
        outset_sys::fdpass::send_with_fds(
            theirs.as_fd(),
            &call(4, 1, true),
            &[fd.as_fd(), fd.as_fd()],
        )
        .unwrap();
        // An `h` past the fds declared.
        (&theirs).write_all(&call(5, 0, true)).unwrap();
        (&theirs).write_all(&call(6, 0, false)).unwrap();
        link.fill();
        let mut got = Vec::new();
        while let Some((m, fds)) = link.next_message() {
            got.push((m.serial, fds.map(|f| f.len())));
        }
        assert_eq!(got.len(), 6, "{got:?}");
        assert_eq!(got[0], (1, Ok(0)));
        assert_eq!(got[1], (2, Ok(1)));
        assert!(got[2].1.is_err(), "{got:?}");
        assert!(got[3].1.is_err(), "{got:?}");
        assert!(got[4].1.is_err(), "{got:?}");
        assert_eq!(got[5], (6, Ok(0)));
        assert!(link.broken.is_none());
    }

    /// Issue 16: a peer that did not get fd passing and sends an fd is cut off, its fd
    /// closed.
    #[test]
    fn issue16_fds_without_negotiation_break_a_private_connection() {
        let (mut link, theirs) = open_peer(false);
        let fd = pipe_fd();
        outset_sys::fdpass::send_with_fds(theirs.as_fd(), &call(2, 1, true), &[fd.as_fd()])
            .unwrap();
        link.fill();
        assert!(link.broken.is_some());
        assert!(link.fd_queue.is_empty());
    }
}
