//! One control connection: nonblocking line buffering in both directions.
//!
//! Requests are newline-delimited JSON; a line longer than the cap is answered with an error
//! and the connection is closed, so a client can never make the daemon buffer without bound.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

use outset_proto::MAX_LINE;

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
    pub pid: u32,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// The peer closed its side (or a fatal error happened); drop once `wbuf` is flushed.
    pub eof: bool,
    /// Requests answered later (waiting start/stop/emit), so the connection must stay.
    pub pending: usize,
    /// Removed from the poller (the peer is done) while replies are still owed.
    pub unwatched: bool,
    broken: bool,
}

impl Conn {
    pub fn new(stream: UnixStream, uid: u32, pid: u32) -> std::io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            uid,
            pid,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            eof: false,
            pending: 0,
            unwatched: false,
            broken: false,
        })
    }

    /// Reads what is available and returns the complete lines.
    pub fn read(&mut self) -> Vec<Incoming> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.eof = true;
                    break;
                }
            }
            if self.rbuf.len() > MAX_LINE && !self.rbuf[..].contains(&b'\n') {
                break;
            }
        }
        while let Some(pos) = self.rbuf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.rbuf.drain(..=pos).collect();
            let line = &line[..line.len() - 1];
            if line.len() > MAX_LINE {
                out.push(Incoming::TooLong);
                continue;
            }
            match String::from_utf8(line.to_vec()) {
                Ok(s) if s.trim().is_empty() => {}
                Ok(s) => out.push(Incoming::Line(s)),
                Err(_) => out.push(Incoming::NotUtf8),
            }
        }
        if self.rbuf.len() > MAX_LINE {
            self.rbuf.clear();
            self.eof = true;
            out.push(Incoming::TooLong);
        }
        out
    }

    /// Queues one reply line and tries to send it.
    pub fn send(&mut self, line: &str) {
        self.wbuf.extend_from_slice(line.as_bytes());
        self.wbuf.push(b'\n');
        self.flush();
    }

    /// Writes as much of the queued output as the socket takes.
    pub fn flush(&mut self) {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => {
                    self.broken = true;
                    self.eof = true;
                    self.wbuf.clear();
                }
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.broken = true;
                    self.eof = true;
                    self.wbuf.clear();
                }
            }
        }
    }

    /// Whether the connection can be dropped: the peer is done and every reply is out.
    pub fn finished(&self) -> bool {
        self.eof && self.wbuf.is_empty() && self.pending == 0
    }

    /// The peer can no longer receive anything.
    pub fn broken(&self) -> bool {
        self.broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_rejects_oversized_ones() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Conn::new(a, 0, 0).unwrap();
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
        seen.extend(c.read());
        assert!(seen.contains(&Incoming::TooLong));
        assert!(c.eof);
    }
}
