//! Just enough of the D-Bus wire protocol for `ready on dbus NAME`: [`BusWatch`], the
//! daemon's non-blocking connection that follows `NameOwnerChanged`; and, for tests and
//! tools, blocking one-shot calls with short timeouts ([`name_has_owner`], [`request_name`]).
//! Authentication is EXTERNAL. No library, no threads.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Where a bus lives, from an address such as `unix:path=/run/dbus/system_bus_socket` or
/// `unix:abstract=/tmp/dbus-XYZ,guid=…`.
/// The first `unix:path=` or `unix:abstract=` socket a D-Bus address names.
fn bus_socket(address: &str) -> io::Result<rustix::net::SocketAddrUnix> {
    use rustix::net::SocketAddrUnix;
    for entry in address.split(';') {
        let Some(params) = entry.strip_prefix("unix:") else {
            continue;
        };
        for kv in params.split(',') {
            if let Some(path) = kv.strip_prefix("path=") {
                return Ok(SocketAddrUnix::new(path)?);
            }
            if let Some(name) = kv.strip_prefix("abstract=") {
                return Ok(SocketAddrUnix::new_abstract_name(name.as_bytes())?);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("unsupported bus address {address:?}"),
    ))
}

/// A blocking connection to the bus at `address`, reads and writes bounded by `timeout`.
fn connect(address: &str, timeout: Duration) -> io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let addr = bus_socket(address)?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::connect(&fd, &addr)?;
    let stream = UnixStream::from(fd);
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

fn pad(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    pad(buf, 4);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_u32(buf, s.len() as u32);
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// A header field: code, then a variant holding a string-like value of type `sig`.
fn put_field(buf: &mut Vec<u8>, code: u8, sig: u8, value: &str) {
    pad(buf, 8);
    buf.extend_from_slice(&[code, 1, sig, 0]);
    if sig == b'g' {
        buf.push(value.len() as u8);
        buf.extend_from_slice(value.as_bytes());
        buf.push(0);
    } else {
        put_str(buf, value);
    }
}

/// A method call to the bus itself, with a body of (`signature`, `body`).
fn call(serial: u32, member: &str, signature: &str, body: &[u8]) -> Vec<u8> {
    let mut fields = Vec::new();
    // Field offsets count from the start of the message: the array starts at byte 16.
    let mut all = vec![0u8; 16];
    put_field(&mut all, 1, b'o', "/org/freedesktop/DBus");
    put_field(&mut all, 2, b's', "org.freedesktop.DBus");
    put_field(&mut all, 3, b's', member);
    put_field(&mut all, 6, b's', "org.freedesktop.DBus");
    if !signature.is_empty() {
        put_field(&mut all, 8, b'g', signature);
    }
    fields.extend_from_slice(&all[16..]);
    let mut msg = vec![b'l', 1, 0, 1];
    msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
    msg.extend_from_slice(&serial.to_le_bytes());
    msg.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    msg.extend_from_slice(&fields);
    pad(&mut msg, 8);
    msg.extend_from_slice(body);
    msg
}

fn auth(stream: &mut UnixStream) -> io::Result<()> {
    let uid = rustix::process::geteuid().as_raw().to_string();
    let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
    stream.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        stream.read_exact(&mut byte)?;
        line.push(byte[0]);
        if line.len() > 512 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bus auth reply too long",
            ));
        }
    }
    if !line.starts_with(b"OK ") {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "bus refused authentication: {}",
                String::from_utf8_lossy(&line).trim()
            ),
        ));
    }
    stream.write_all(b"BEGIN\r\n")
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Reads messages until the reply to `serial`; returns its type (2 return, 3 error) and body.
fn reply(stream: &mut UnixStream, serial: u32) -> io::Result<(u8, Vec<u8>)> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    for _ in 0..64 {
        let mut head = [0u8; 16];
        stream.read_exact(&mut head)?;
        if head[0] != b'l' {
            return Err(invalid("big-endian bus messages are not supported"));
        }
        let body_len = u32_at(&head, 4).ok_or_else(|| invalid("short header"))? as usize;
        let fields_len = u32_at(&head, 12).ok_or_else(|| invalid("short header"))? as usize;
        if body_len > 1 << 20 || fields_len > 1 << 16 {
            return Err(invalid("bus message too large"));
        }
        let fields_padded = fields_len.div_ceil(8) * 8;
        let mut rest = vec![0u8; fields_padded + body_len];
        stream.read_exact(&mut rest)?;
        // Find REPLY_SERIAL (code 5, type u) among the header fields.
        let mut fields = head.to_vec();
        fields.extend_from_slice(&rest[..fields_padded]);
        let reply_serial = header_fields(&fields[..16 + fields_len]).reply_serial;
        if matches!(head[1], 2 | 3) && reply_serial == Some(serial) {
            return Ok((head[1], rest[fields_padded..].to_vec()));
        }
    }
    Err(invalid("no reply from the bus"))
}

/// A connection that has said `Hello`.
fn open(address: &str, timeout: Duration) -> io::Result<UnixStream> {
    let mut s = connect(address, timeout)?;
    auth(&mut s)?;
    s.write_all(&call(1, "Hello", "", &[]))?;
    let (kind, _) = reply(&mut s, 1)?;
    if kind != 2 {
        return Err(io::Error::other("the bus refused Hello"));
    }
    Ok(s)
}

/// Whether `name` has an owner on the bus at `address`.
pub fn name_has_owner(address: &str, name: &str, timeout: Duration) -> io::Result<bool> {
    let mut s = open(address, timeout)?;
    let mut body = Vec::new();
    put_str(&mut body, name);
    s.write_all(&call(2, "NameHasOwner", "s", &body))?;
    match reply(&mut s, 2)? {
        (2, body) => Ok(u32_at(&body, 0) == Some(1)),
        _ => Err(io::Error::other("NameHasOwner failed")),
    }
}

/// Takes `name` on the bus; the name is held as long as the returned connection is open.
pub fn request_name(address: &str, name: &str, timeout: Duration) -> io::Result<UnixStream> {
    let mut s = open(address, timeout)?;
    let mut body = Vec::new();
    put_str(&mut body, name);
    put_u32(&mut body, 0);
    s.write_all(&call(2, "RequestName", "su", &body))?;
    match reply(&mut s, 2)? {
        // 1: primary owner.
        (2, body) if u32_at(&body, 0) == Some(1) => Ok(s),
        _ => Err(io::Error::other(format!("could not own {name}"))),
    }
}

/// The bus a daemon in this mode asks: the session bus for a user supervisor, else the system
/// bus (`$DBUS_*_BUS_ADDRESS`, or the standard system socket).
pub fn bus_address(session: bool) -> Option<String> {
    if session {
        std::env::var("DBUS_SESSION_BUS_ADDRESS").ok()
    } else {
        Some(
            std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
                .unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".into()),
        )
    }
}

/// The header fields of a message that [`BusWatch`] looks at.
#[derive(Debug, Default, PartialEq, Eq)]
struct Header {
    kind: u8,
    reply_serial: Option<u32>,
    member: Option<String>,
    interface: Option<String>,
}

/// A string at `at` (u32 length, bytes, NUL); returns it and the offset after it.
fn str_at(b: &[u8], at: usize) -> Option<(String, usize)> {
    let at = at.div_ceil(4) * 4;
    let len = u32_at(b, at)? as usize;
    let bytes = b.get(at + 4..at + 4 + len)?;
    Some((
        String::from_utf8_lossy(bytes).into_owned(),
        at + 4 + len + 1,
    ))
}

/// The header of a message from its fixed part and header fields (`fields`: the 16 fixed
/// bytes, then the fields array, unpadded): its type, REPLY_SERIAL, INTERFACE and MEMBER.
fn header_fields(fields: &[u8]) -> Header {
    let mut header = Header {
        kind: fields.get(1).copied().unwrap_or(0),
        ..Header::default()
    };
    let mut at = 16;
    while at < fields.len() {
        at = at.div_ceil(8) * 8;
        let (Some(&code), Some(&sig_len)) = (fields.get(at), fields.get(at + 1)) else {
            break;
        };
        let sig = fields.get(at + 2).copied().unwrap_or(0);
        at += 2 + sig_len as usize + 1;
        match sig {
            b'u' => {
                at = at.div_ceil(4) * 4;
                if code == 5 {
                    header.reply_serial = u32_at(fields, at);
                }
                at += 4;
            }
            b'g' => {
                let len = fields.get(at).copied().unwrap_or(0) as usize;
                at += 1 + len + 1;
            }
            _ => {
                let Some((value, next)) = str_at(fields, at) else {
                    break;
                };
                match code {
                    2 => header.interface = Some(value),
                    3 => header.member = Some(value),
                    _ => {}
                }
                at = next;
            }
        }
    }
    header
}

/// Splits the first complete message off `buf`: `Ok(None)` while it is incomplete, its
/// header and body once it is there.
fn take_message(buf: &mut Vec<u8>) -> io::Result<Option<(Header, Vec<u8>)>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    if buf.len() < 16 {
        return Ok(None);
    }
    if buf[0] != b'l' {
        return Err(invalid("big-endian bus messages are not supported"));
    }
    let body_len = u32_at(buf, 4).ok_or_else(|| invalid("short header"))? as usize;
    let fields_len = u32_at(buf, 12).ok_or_else(|| invalid("short header"))? as usize;
    if body_len > 1 << 20 || fields_len > 1 << 16 {
        return Err(invalid("bus message too large"));
    }
    let body_at = (16 + fields_len).div_ceil(8) * 8;
    if buf.len() < body_at + body_len {
        return Ok(None);
    }
    let header = header_fields(&buf[..16 + fields_len]);
    let body = buf[body_at..body_at + body_len].to_vec();
    buf.drain(..body_at + body_len);
    Ok(Some((header, body)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the answer to `AUTH EXTERNAL`.
    Auth,
    /// Authenticated; `Hello`, the `NameOwnerChanged` match and name queries are sent.
    Running,
}

/// One non-blocking bus connection kept by the daemon's loop for `ready on dbus NAME`: it
/// asks `NameHasOwner` once per name and then follows `NameOwnerChanged` signals, so no
/// check ever waits for the bus. [`BusWatch::owned`] answers from what was heard so far; a
/// bus that accepts but never answers simply leaves every name unowned.
pub struct BusWatch {
    stream: UnixStream,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    serial: u32,
    /// The owner state of each watched name (`None` until the bus has said).
    names: std::collections::HashMap<String, Option<bool>>,
    /// Outstanding `NameHasOwner` calls.
    asked: std::collections::HashMap<u32, String>,
}

/// How much a watch may buffer in either direction before the connection is dropped.
const MAX_BUFFERED: usize = 1 << 20;

impl BusWatch {
    /// Connects (non-blocking) to the bus at `address` and starts authenticating.
    pub fn connect(address: &str) -> io::Result<BusWatch> {
        let stream = connect_nonblocking(address)?;
        let uid = rustix::process::geteuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let mut w = BusWatch {
            stream,
            phase: Phase::Auth,
            input: Vec::new(),
            output: format!("\0AUTH EXTERNAL {hex}\r\n").into_bytes(),
            serial: 0,
            names: std::collections::HashMap::new(),
            asked: std::collections::HashMap::new(),
        };
        w.flush()?;
        Ok(w)
    }

    fn next_serial(&mut self) -> u32 {
        self.serial = self.serial.wrapping_add(1).max(1);
        self.serial
    }

    /// Writes what is pending without blocking.
    fn flush(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.output.len() > MAX_BUFFERED {
            return Err(io::Error::other("the bus does not read its input"));
        }
        Ok(())
    }

    fn ask(&mut self, name: &str) {
        let serial = self.next_serial();
        let mut body = Vec::new();
        put_str(&mut body, name);
        self.output
            .extend_from_slice(&call(serial, "NameHasOwner", "s", &body));
        self.asked.insert(serial, name.to_string());
    }

    /// Whether `name` has an owner as far as the bus has told; starts watching it.
    /// Never blocks. An error means the connection is unusable and should be dropped.
    pub fn owned(&mut self, name: &str) -> io::Result<bool> {
        if !self.names.contains_key(name) {
            self.names.insert(name.to_string(), None);
            if self.phase == Phase::Running {
                self.ask(name);
            }
        }
        self.flush()?;
        Ok(self.names.get(name).copied().flatten().unwrap_or(false))
    }

    /// Stops watching names not in `keep`.
    pub fn retain(&mut self, keep: &[&str]) {
        self.names.retain(|n, _| keep.contains(&n.as_str()));
    }

    /// Reads what the bus sent (call when its fd is readable). Returns whether a name's
    /// state changed; an error means the connection is unusable and should be dropped.
    pub fn on_readable(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if self.input.len() > MAX_BUFFERED {
                return Err(io::Error::other("bus input too large"));
            }
        }
        let changed = self.process()?;
        self.flush()?;
        Ok(changed)
    }

    fn process(&mut self) -> io::Result<bool> {
        if self.phase == Phase::Auth {
            let Some(end) = self.input.windows(2).position(|w| w == b"\r\n") else {
                if self.input.len() > 512 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "bus auth reply too long",
                    ));
                }
                return Ok(false);
            };
            let line: Vec<u8> = self.input.drain(..end + 2).collect();
            if !line.starts_with(b"OK ") {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "bus refused authentication: {}",
                        String::from_utf8_lossy(&line).trim()
                    ),
                ));
            }
            self.phase = Phase::Running;
            self.output.extend_from_slice(b"BEGIN\r\n");
            let hello = self.next_serial();
            self.output
                .extend_from_slice(&call(hello, "Hello", "", &[]));
            let serial = self.next_serial();
            let mut rule = Vec::new();
            put_str(
                &mut rule,
                "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged'",
            );
            self.output
                .extend_from_slice(&call(serial, "AddMatch", "s", &rule));
            let names: Vec<String> = self.names.keys().cloned().collect();
            for n in names {
                self.ask(&n);
            }
        }
        let mut changed = false;
        while let Some((header, body)) = take_message(&mut self.input)? {
            match header.kind {
                // A method return or an error: the answer to a NameHasOwner.
                2 | 3 => {
                    let Some(name) = header.reply_serial.and_then(|s| self.asked.remove(&s)) else {
                        continue;
                    };
                    let owned = header.kind == 2 && u32_at(&body, 0) == Some(1);
                    // A signal heard since the question was asked is newer: kept.
                    if let Some(state) = self.names.get_mut(&name)
                        && state.is_none()
                    {
                        *state = Some(owned);
                        changed = true;
                    }
                }
                // A signal: NameOwnerChanged (name, old owner, new owner).
                4 if header.member.as_deref() == Some("NameOwnerChanged")
                    && header.interface.as_deref() == Some("org.freedesktop.DBus") =>
                {
                    let Some((name, next)) = str_at(&body, 0) else {
                        continue;
                    };
                    let Some((_old, next)) = str_at(&body, next) else {
                        continue;
                    };
                    let Some((new, _)) = str_at(&body, next) else {
                        continue;
                    };
                    if let Some(state) = self.names.get_mut(&name) {
                        let owned = !new.is_empty();
                        if *state != Some(owned) {
                            *state = Some(owned);
                            changed = true;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(changed)
    }
}

impl std::os::fd::AsFd for BusWatch {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// Like [`connect`], but the socket is non-blocking from the start, so even a connect to
/// a bus whose listen backlog is full returns at once.
/// A non-blocking connection to the bus at `address` (the connect may still be in
/// progress: writes wait for it).
pub fn connect_nonblocking(address: &str) -> io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let addr = bus_socket(address)?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) => {}
        // A stream connect in progress completes on its own; writes wait for it.
        Err(rustix::io::Errno::INPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(UnixStream::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_well_formed() {
        let m = call(7, "NameHasOwner", "s", &[1, 2, 3, 4]);
        assert_eq!(&m[..4], &[b'l', 1, 0, 1]);
        assert_eq!(u32_at(&m, 4), Some(4));
        assert_eq!(u32_at(&m, 8), Some(7));
        let fields = u32_at(&m, 12).unwrap() as usize;
        // The body starts 8-aligned after the fields.
        assert_eq!(m.len(), (16 + fields).div_ceil(8) * 8 + 4);
        assert!(connect("tcp:host=x", Duration::from_millis(10)).is_err());
    }

    /// Against a private bus, when dbus-daemon is installed.
    #[test]
    fn owns_and_asks_on_a_private_bus() {
        let Some(daemon) = ["/usr/bin/dbus-daemon", "/bin/dbus-daemon"]
            .iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "dbus-daemon must be installed"
            );
            eprintln!("SKIP: dbus-daemon is not installed");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let address = format!("unix:path={}/bus", dir.path().display());
        let mut bus = std::process::Command::new(daemon)
            .args([
                "--session",
                "--nofork",
                "--nopidfile",
                &format!("--address={address}"),
            ])
            .spawn()
            .unwrap();
        let t = Duration::from_secs(2);
        let mut ok = false;
        for _ in 0..100 {
            if name_has_owner(&address, "org.outset.Test", t).is_ok() {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ok, "the private bus did not come up");
        assert!(!name_has_owner(&address, "org.outset.Test", t).unwrap());
        let owner = request_name(&address, "org.outset.Test", t).unwrap();
        assert!(name_has_owner(&address, "org.outset.Test", t).unwrap());
        drop(owner);
        std::thread::sleep(Duration::from_millis(100));
        assert!(!name_has_owner(&address, "org.outset.Test", t).unwrap());

        // Issue 9 item 9: the loop's watch learns the same without ever blocking.
        let mut watch = BusWatch::connect(&address).unwrap();
        let name = "org.outset.Watched";
        let wait_for = |watch: &mut BusWatch, want: bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let _ = watch.on_readable().unwrap();
                if watch.owned(name).unwrap() == want && watch.names[name].is_some() {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "never saw {want}");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        assert!(!watch.owned(name).unwrap());
        wait_for(&mut watch, false);
        let owner = request_name(&address, name, t).unwrap();
        wait_for(&mut watch, true);
        drop(owner);
        wait_for(&mut watch, false);
        let _ = bus.kill();
        let _ = bus.wait();
        // The bus is gone: the watch says so instead of waiting.
        std::thread::sleep(Duration::from_millis(50));
        assert!(watch.on_readable().is_err());
    }

    /// Issue 9 item 9: a bus that accepts but never answers costs nothing to ask.
    #[test]
    fn issue9_item9_silent_bus_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus");
        // Listening, never accepting, never answering.
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let address = format!("unix:path={}", path.display());
        let start = std::time::Instant::now();
        let mut watch = BusWatch::connect(&address).unwrap();
        for _ in 0..100 {
            assert!(!watch.owned("org.outset.Silent").unwrap());
            assert!(!watch.on_readable().unwrap());
        }
        // A hang check, not a measure: a blocking check would take 100 × its timeout.
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
