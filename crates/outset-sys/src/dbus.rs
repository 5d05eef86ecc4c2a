//! Just enough of the D-Bus wire protocol to ask the bus whether a name has an owner (for
//! `ready on dbus NAME`) and, for tests and tools, to own one: connect, authenticate with
//! EXTERNAL, `Hello`, then one method call. No library, no threads, short timeouts.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Where a bus lives, from an address such as `unix:path=/run/dbus/system_bus_socket` or
/// `unix:abstract=/tmp/dbus-XYZ,guid=…`.
fn connect(address: &str, timeout: Duration) -> io::Result<UnixStream> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsupported bus address {address:?}"),
        )
    };
    for entry in address.split(';') {
        let Some(params) = entry.strip_prefix("unix:") else {
            continue;
        };
        for kv in params.split(',') {
            let stream = if let Some(path) = kv.strip_prefix("path=") {
                UnixStream::connect(path)?
            } else if let Some(name) = kv.strip_prefix("abstract=") {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
                UnixStream::connect_addr(&addr)?
            } else {
                continue;
            };
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            return Ok(stream);
        }
    }
    Err(bad())
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
        let mut at = 16;
        let mut reply_serial = None;
        while at < 16 + fields_len {
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
                        reply_serial = u32_at(&fields, at);
                    }
                    at += 4;
                }
                b'g' => {
                    let len = fields.get(at).copied().unwrap_or(0) as usize;
                    at += 1 + len + 1;
                }
                _ => {
                    at = at.div_ceil(4) * 4;
                    let len = u32_at(&fields, at).unwrap_or(0) as usize;
                    at += 4 + len + 1;
                }
            }
        }
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
        let _ = bus.kill();
        let _ = bus.wait();
    }
}
