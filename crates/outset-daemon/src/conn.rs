//! Control connections: nonblocking line buffering in both directions, and the table of
//! open connections with the limits that keep one client from starving the others.
//!
//! Requests are newline-delimited JSON. What one connection can cost is bounded:
//! - input: a line longer than [`MAX_LINE`] is answered with an error and, when no newline
//!   follows, the connection is closed; at most [`READ_PER_TURN`] bytes are read and
//!   [`LINES_PER_TURN`] requests taken per loop turn, so others are served in between;
//! - output: while more than [`OUT_BOUND`] bytes of replies wait for the peer, its requests
//!   are not read; one that stays over the bound without reading for [`STALL_LIMIT`] is
//!   dropped;
//! - count: a uid without the right to change things holds at most [`PER_UID`] connections,
//!   and all such uids together at most half the daemon's file descriptors, so root always
//!   has room.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use outset_proto::MAX_LINE;
use outset_sys::poll::{Interest, Poller};
use outset_sys::unix_socket::Listener;

/// Reply bytes a connection may have waiting before its requests stop being read.
pub const OUT_BOUND: usize = 256 * 1024;
/// Bytes read from one connection per loop turn.
pub const READ_PER_TURN: usize = 16 * 1024;
/// Requests taken from one connection per loop turn.
pub const LINES_PER_TURN: usize = 32;
/// How long a connection may stay over [`OUT_BOUND`] without reading anything.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Connections one unprivileged uid may hold.
pub const PER_UID: usize = 64;
/// The most connections all unprivileged uids together may hold.
const UNPRIVILEGED_MAX: usize = 1024;
/// Connections accepted per loop turn (a connect flood must not keep the loop in accept).
const ACCEPTS_PER_TURN: usize = 16;
/// Connections turned away per loop turn: refusing costs the loop too, so a flood of them
/// waits in the kernel's backlog instead of taking the turn from everyone else.
const REFUSALS_PER_TURN: usize = 4;
/// How long the listener rests after running out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What reading a connection produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Line(String),
    /// The peer sent more than [`MAX_LINE`] bytes without a newline.
    TooLong,
    /// A line that is not UTF-8.
    NotUtf8,
}

pub struct Conn {
    pub stream: UnixStream,
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
    rbuf: Vec<u8>,
    /// How much of `rbuf` has been taken as requests.
    rpos: usize,
    /// How much of `rbuf` is known to hold no newline after `rpos` (never searched twice).
    scanned: usize,
    /// Requests taken in this loop turn.
    taken: usize,
    /// Complete requests are waiting in `rbuf` (the per-turn limit was reached).
    backlog: bool,
    wbuf: Vec<u8>,
    /// How much of `wbuf` has been written.
    wpos: usize,
    /// The peer closed its side (or a fatal error happened); drop once replies are out.
    pub eof: bool,
    /// Requests answered later (waiting start/stop/emit), so the connection must stay.
    pub pending: usize,
    broken: bool,
    /// What the poller watches the connection for now; `None`: not registered.
    watched: Option<Interest>,
    /// Since when output has been over the bound with no write progress.
    stalled_since: Option<Instant>,
    /// Counted against its uid's connection limit.
    counted: bool,
    /// A `monitor` watcher: how many records were dropped for it and not told yet.
    pub watch: Option<u64>,
}

impl Conn {
    pub fn new(stream: UnixStream, uid: u32, gid: u32, pid: u32) -> std::io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            uid,
            gid,
            pid,
            rbuf: Vec::new(),
            rpos: 0,
            scanned: 0,
            taken: 0,
            backlog: false,
            wbuf: Vec::new(),
            wpos: 0,
            eof: false,
            pending: 0,
            broken: false,
            watched: None,
            stalled_since: None,
            counted: false,
            watch: None,
        })
    }

    /// What a re-exec hands over of the connection (its descriptor is named, not moved).
    pub fn export(&self, token: u64) -> crate::state::ConnState {
        use std::os::fd::AsRawFd;
        crate::state::ConnState {
            token,
            fd: self.stream.as_raw_fd(),
            uid: self.uid,
            gid: self.gid,
            pid: self.pid,
            input: self.rbuf[self.rpos..].to_vec(),
            output: self.wbuf[self.wpos..].to_vec(),
            eof: self.eof,
            pending: self.pending,
            counted: self.counted,
            watch: self.watch,
        }
    }

    /// A connection handed over by the previous image, with what it had buffered.
    pub fn import(stream: UnixStream, s: &crate::state::ConnState) -> std::io::Result<Conn> {
        let mut c = Conn::new(stream, s.uid, s.gid, s.pid)?;
        c.rbuf = s.input.clone();
        c.wbuf = s.output.clone();
        c.eof = s.eof;
        c.pending = s.pending;
        c.counted = s.counted;
        c.watch = s.watch;
        // Requests that came before the exec are taken on the first turn.
        c.backlog = c.rbuf.contains(&b'\n');
        Ok(c)
    }

    /// Starts a loop turn for this connection: sends what the socket takes, then reads at
    /// most [`READ_PER_TURN`] bytes unless requests already wait or output is over the bound.
    pub fn begin_turn(&mut self) {
        self.flush();
        self.taken = 0;
        if self.rpos > 0 {
            // One move per turn of what is left, never one per line.
            self.rbuf.drain(..self.rpos);
            self.scanned -= self.rpos;
            self.rpos = 0;
        }
        if !self.eof && !self.backlog && !self.over_bound() {
            self.fill();
        }
    }

    /// The next complete request of this turn; `None` once the turn's share
    /// ([`LINES_PER_TURN`]) is used, output is over the bound, or no full line is left.
    pub fn next_request(&mut self) -> Option<Incoming> {
        loop {
            if self.taken >= LINES_PER_TURN || self.over_bound() {
                self.backlog = self.rbuf[self.scanned..].contains(&b'\n');
                return None;
            }
            if self.scanned == self.rpos {
                // Runs of bare newlines (a cheap flood) are skipped in one tight pass.
                let blank = self.rbuf[self.rpos..]
                    .iter()
                    .take_while(|&&b| b == b'\n')
                    .count();
                self.rpos += blank;
                self.scanned = self.rpos;
            }
            let Some(off) = self.rbuf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.rbuf.len();
                self.backlog = false;
                if self.rbuf.len() - self.rpos > MAX_LINE {
                    self.rbuf = Vec::new();
                    self.rpos = 0;
                    self.scanned = 0;
                    self.eof = true;
                    self.taken += 1;
                    return Some(Incoming::TooLong);
                }
                return None;
            };
            let end = self.scanned + off;
            let start = self.rpos;
            self.rpos = end + 1;
            self.scanned = end + 1;
            let line = &self.rbuf[start..end];
            let item = if line.len() > MAX_LINE {
                Incoming::TooLong
            } else {
                match std::str::from_utf8(line) {
                    // Blank lines cost a scan, no turn share: they are bounded by the bytes
                    // read per turn.
                    Ok(s) if s.trim().is_empty() => continue,
                    Ok(s) => Incoming::Line(s.to_owned()),
                    Err(_) => Incoming::NotUtf8,
                }
            };
            self.taken += 1;
            return Some(item);
        }
    }

    /// One turn's requests at once (for tests).
    #[cfg(test)]
    fn read(&mut self) -> Vec<Incoming> {
        self.begin_turn();
        std::iter::from_fn(|| self.next_request()).collect()
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; READ_PER_TURN];
        let mut got = 0;
        while got < READ_PER_TURN {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.rbuf.extend_from_slice(&chunk[..n]);
                    got += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.eof = true;
                    break;
                }
            }
        }
    }

    /// Queues one reply line and tries to send it.
    pub fn send(&mut self, line: &str) {
        if self.broken {
            return;
        }
        self.wbuf.extend_from_slice(line.as_bytes());
        self.wbuf.push(b'\n');
        self.flush();
    }

    /// Writes as much of the queued output as the socket takes.
    pub fn flush(&mut self) {
        let mut progressed = false;
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return self.fail(),
                Ok(n) => {
                    self.wpos += n;
                    progressed = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return self.fail(),
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        } else if self.wpos > self.wbuf.len() / 2 {
            // Moving the rest only once half is out keeps the cost linear.
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        if !self.over_bound() {
            self.stalled_since = None;
        } else if progressed || self.stalled_since.is_none() {
            self.stalled_since = Some(Instant::now());
        }
    }

    fn fail(&mut self) {
        self.broken = true;
        self.eof = true;
        self.wbuf = Vec::new();
        self.wpos = 0;
        self.stalled_since = None;
    }

    /// Sends a watcher one record line (`monitor`), unless more than
    /// [`crate::observe::WATCH_BOUND`] bytes already wait for it: then the record is
    /// dropped and counted, and the count goes out before the next record that fits.
    pub fn offer(&mut self, line: &str, time_ms: u64) {
        let Some(dropped) = self.watch else {
            return;
        };
        let bound = crate::observe::WATCH_BOUND;
        let told = if dropped > 0 {
            crate::observe::dropped_line(dropped, time_ms)
        } else {
            String::new()
        };
        if self.broken || self.queued() + told.len() + line.len() + 2 > bound {
            self.watch = Some(dropped + 1);
            return;
        }
        if dropped > 0 {
            self.send(&told);
        }
        self.watch = Some(0);
        self.send(line);
    }

    fn queued(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Too much output waits for the peer: take no more requests from it.
    pub fn over_bound(&self) -> bool {
        self.queued() > OUT_BOUND
    }

    /// Complete requests wait in the buffer and may be taken now.
    pub fn has_backlog(&self) -> bool {
        self.backlog && !self.over_bound() && !self.broken
    }

    /// Whether the connection can be dropped: the peer is done and every reply is out.
    pub fn finished(&self) -> bool {
        self.eof && self.queued() == 0 && self.pending == 0 && !self.backlog
    }

    /// The peer can no longer receive anything.
    pub fn broken(&self) -> bool {
        self.broken
    }

    fn stalled(&self, now: Instant) -> bool {
        self.stalled_since
            .is_some_and(|t| now.duration_since(t) >= STALL_LIMIT)
    }

    /// What the poller must watch: input while requests are taken, output while replies
    /// wait. A peer that has closed is never watched for input (a closed socket is always
    /// readable).
    fn interest(&self) -> Interest {
        Interest {
            read: !self.eof && !self.backlog && !self.over_bound(),
            write: self.queued() > 0 && !self.broken,
        }
    }
}

/// Every open control connection, by poll token.
pub struct Conns {
    map: HashMap<u64, Conn>,
    next: u64,
    per_uid: HashMap<u32, usize>,
    /// Connections held by uids without the right to change things.
    unprivileged: usize,
    unprivileged_max: usize,
    /// The listener rests (out of file descriptors) until then.
    paused_until: Option<Instant>,
    /// Accepts that failed (mostly for lack of file descriptors) since the last success.
    accept_failures: u64,
}

impl Conns {
    /// `first` is the first poll token; `fd_limit` the daemon's open-file limit.
    pub fn new(first: u64, fd_limit: u64) -> Conns {
        let half = usize::try_from(fd_limit / 2).unwrap_or(usize::MAX);
        Conns {
            map: HashMap::new(),
            next: first,
            per_uid: HashMap::new(),
            unprivileged: 0,
            unprivileged_max: half.clamp(PER_UID, UNPRIVILEGED_MAX),
            paused_until: None,
            accept_failures: 0,
        }
    }

    /// Takes `conn` under the next token, as `accept` does (tests hand in one end of a
    /// socket pair).
    #[cfg(test)]
    pub fn insert(&mut self, conn: Conn) -> u64 {
        let token = self.next;
        self.next += 1;
        self.map.insert(token, conn);
        token
    }

    /// Every connection with its token.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &Conn)> {
        self.map.iter()
    }

    /// Every connection, for flushing before a re-exec.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.map.values_mut()
    }

    /// A connection handed over by the previous image, under the token it had there.
    pub fn restore(&mut self, token: u64, conn: Conn) {
        if conn.counted {
            *self.per_uid.entry(conn.uid).or_insert(0) += 1;
            self.unprivileged += 1;
        }
        self.next = self.next.max(token + 1);
        self.map.insert(token, conn);
    }

    pub fn get(&self, token: &u64) -> Option<&Conn> {
        self.map.get(token)
    }

    pub fn get_mut(&mut self, token: &u64) -> Option<&mut Conn> {
        self.map.get_mut(token)
    }

    /// Accepts every pending connection and returns their tokens. `privileged` says whether
    /// a uid may change things (such callers are never turned away for the count).
    pub fn accept(
        &mut self,
        listeners: &[Listener],
        poller: &Poller,
        privileged: impl Fn(u32) -> bool,
    ) -> Vec<u64> {
        let mut new = Vec::new();
        for listener in listeners {
            if self.paused_until.is_some() {
                break;
            }
            self.accept_from(listener, poller, &privileged, &mut new);
        }
        // Resting: every listener leaves the poller (one left watched would spin it).
        if self.paused_until.is_some() {
            for listener in listeners {
                let _ = poller.delete(listener.as_fd());
            }
        }
        new
    }

    fn accept_from(
        &mut self,
        listener: &Listener,
        poller: &Poller,
        privileged: &impl Fn(u32) -> bool,
        new: &mut Vec<u64>,
    ) {
        let mut refused = 0;
        for _ in 0..ACCEPTS_PER_TURN {
            let c = match listener.accept() {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    // Out of descriptors (or any other failure that would repeat at once):
                    // a level-triggered listener left watched would spin the loop.
                    self.accept_failures += 1;
                    if self.accept_failures == 1 {
                        let why = if outset_sys::unix_socket::out_of_fds(&e) {
                            "until descriptors are free"
                        } else {
                            "while it keeps failing"
                        };
                        log::warn!(
                            "accept: {e}; not accepting control connections for {} ms at a time {why}",
                            ACCEPT_PAUSE.as_millis()
                        );
                    }
                    let _ = poller.delete(listener.as_fd());
                    self.paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            };
            if self.accept_failures > 0 {
                log::info!(
                    "accepting control connections again ({} attempts failed meanwhile)",
                    self.accept_failures
                );
                self.accept_failures = 0;
            }
            let pid = u32::try_from(c.pid).unwrap_or(0);
            if c.foreign {
                // The abstract socket of a per-user daemon: its owner's alone, as the
                // socket file's mode 0600 makes it.
                log::debug!(
                    "control connection from uid {} pid {pid} refused: not the owner",
                    c.uid
                );
                let line = serde_json::to_string(&outset_proto::Response::error(
                    "Permission denied: this daemon's socket is its owner's alone",
                ))
                .unwrap_or_default();
                let mut s = c.stream;
                let _ = s.write(format!("{line}\n").as_bytes());
                continue;
            }
            let privileged = privileged(c.uid);
            if !privileged {
                let held = self.per_uid.get(&c.uid).copied().unwrap_or(0);
                let refusal = if held >= PER_UID {
                    Some(format!(
                        "too many connections from uid {} (the limit is {PER_UID})",
                        c.uid
                    ))
                } else if self.unprivileged >= self.unprivileged_max {
                    Some(format!(
                        "too many connections (the limit for unprivileged users is {})",
                        self.unprivileged_max
                    ))
                } else {
                    None
                };
                if let Some(why) = refusal {
                    log::debug!(
                        "control connection from uid {} pid {pid} refused: {why}",
                        c.uid
                    );
                    let line = serde_json::to_string(&outset_proto::Response::error(why))
                        .unwrap_or_default();
                    let mut s = c.stream;
                    let _ = s.write(format!("{line}\n").as_bytes());
                    refused += 1;
                    if refused >= REFUSALS_PER_TURN {
                        break;
                    }
                    continue;
                }
            }
            let conn = match Conn::new(c.stream, c.uid, c.gid, pid) {
                Ok(conn) => conn,
                Err(e) => {
                    log::warn!("control connection: {e}");
                    continue;
                }
            };
            log::debug!("control connection from uid {} pid {}", conn.uid, conn.pid);
            let token = self.next;
            self.next += 1;
            let mut conn = conn;
            if !privileged {
                conn.counted = true;
                *self.per_uid.entry(conn.uid).or_insert(0) += 1;
                self.unprivileged += 1;
            }
            self.map.insert(token, conn);
            new.push(token);
        }
    }

    /// Connections whose buffered requests wait for a turn.
    pub fn with_backlog(&self) -> Vec<u64> {
        self.map
            .iter()
            .filter(|(_, c)| c.has_backlog())
            .map(|(t, _)| *t)
            .collect()
    }

    /// When the loop must wake for a connection: a stall to end or the listener to resume.
    pub fn next_wake(&self) -> Option<Instant> {
        let stalls = self
            .map
            .values()
            .filter_map(|c| c.stalled_since.map(|t| t + STALL_LIMIT));
        stalls.chain(self.paused_until).min()
    }

    /// Brings the poller up to date with every connection, drops the finished, broken and
    /// stalled ones (returning their tokens), and resumes a rested listener.
    pub fn sync(
        &mut self,
        poller: &Poller,
        listeners: &[Listener],
        listener_token: u64,
    ) -> Vec<u64> {
        let now = Instant::now();
        if self.paused_until.is_some_and(|t| now >= t) {
            self.paused_until = None;
            for listener in listeners {
                if let Err(e) = poller.add(listener.as_fd(), listener_token) {
                    log::error!("watching the control socket again: {e}");
                }
            }
        }
        let mut gone = Vec::new();
        for (token, c) in self.map.iter_mut() {
            let stalled = c.stalled(now);
            if stalled {
                log::warn!(
                    "control connection from uid {} pid {} dropped: it left {} bytes of replies unread for {} s",
                    c.uid,
                    c.pid,
                    c.queued(),
                    STALL_LIMIT.as_secs()
                );
            }
            if c.broken() || c.finished() || stalled {
                gone.push(*token);
                continue;
            }
            let want = c.interest();
            let fd = c.stream.as_fd();
            let result = match (c.watched, want.read || want.write) {
                (Some(cur), true) if cur == want => Ok(()),
                (Some(_), true) => poller.modify(fd, *token, want),
                (None, true) => poller.add_with(fd, *token, want),
                (Some(_), false) => poller.delete(fd),
                (None, false) => Ok(()),
            };
            match result {
                Ok(()) => c.watched = (want.read || want.write).then_some(want),
                Err(e) => {
                    log::error!("watching a control connection: {e}");
                    gone.push(*token);
                }
            }
        }
        for token in &gone {
            if let Some(c) = self.map.remove(token) {
                if c.watched.is_some() {
                    let _ = poller.delete(c.stream.as_fd());
                }
                if c.counted {
                    self.unprivileged = self.unprivileged.saturating_sub(1);
                    if let Some(n) = self.per_uid.get_mut(&c.uid) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.per_uid.remove(&c.uid);
                        }
                    }
                }
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Conn, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (Conn::new(a, 0, 0, 0).unwrap(), b)
    }

    #[test]
    fn splits_lines_and_rejects_oversized_ones() {
        let (mut c, mut b) = pair();
        b.write_all(b"{\"x\":1}\n\n{\"y\"").unwrap();
        assert_eq!(c.read(), vec![Incoming::Line("{\"x\":1}".into())]);
        b.write_all(b":2}\n").unwrap();
        assert_eq!(c.read(), vec![Incoming::Line("{\"y\":2}".into())]);
        b.write_all(&[0xff, b'\n']).unwrap();
        assert_eq!(c.read(), vec![Incoming::NotUtf8]);
        let big = vec![b'a'; MAX_LINE + 10];
        b.set_nonblocking(true).unwrap();
        let mut written = 0;
        let mut seen = Vec::new();
        while written < big.len() {
            match b.write(&big[written..]) {
                Ok(n) => written += n,
                Err(_) => seen.extend(c.read()),
            }
        }
        // Each turn reads a bounded amount: the poller would call again while data waits.
        for _ in 0..100 {
            seen.extend(c.read());
        }
        assert!(seen.contains(&Incoming::TooLong));
        assert!(c.eof);
    }

    #[test]
    fn issue10_item3_lines_are_taken_a_bounded_number_per_turn() {
        let (mut c, mut b) = pair();
        let mut text = Vec::new();
        for i in 0..100 {
            text.extend_from_slice(format!("{i}\n\n\n").as_bytes());
        }
        b.write_all(&text).unwrap();
        let mut got = Vec::new();
        let first = c.read();
        assert_eq!(first.len(), LINES_PER_TURN);
        assert!(c.has_backlog());
        got.extend(first);
        while c.has_backlog() {
            got.extend(c.read());
        }
        let want: Vec<Incoming> = (0..100).map(|i| Incoming::Line(format!("{i}"))).collect();
        assert_eq!(got, want);
        c.begin_turn();
        assert!(c.rbuf.is_empty());
    }

    #[test]
    fn issue10_item2_no_requests_are_taken_while_output_is_over_the_bound() {
        let (mut c, mut b) = pair();
        let reply = "r".repeat(64 * 1024);
        // The peer reads nothing: the socket buffer fills, then the queue.
        while !c.over_bound() {
            c.send(&reply);
        }
        assert!(c.interest().write);
        assert!(!c.interest().read);
        b.write_all(b"{\"v\":1}\n").unwrap();
        assert!(c.read().is_empty());
        assert!(c.stalled_since.is_some());
        // Once the peer reads, requests are taken again.
        b.set_nonblocking(true).unwrap();
        let mut sink = vec![0u8; 1 << 20];
        while c.over_bound() {
            let _ = b.read(&mut sink);
            c.flush();
        }
        assert!(c.stalled_since.is_none());
        assert_eq!(c.read(), vec![Incoming::Line("{\"v\":1}".into())]);
    }
}
