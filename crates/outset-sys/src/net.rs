//! Which sockets are listening, and which process holds them: `/proc/net` and
//! `/proc/PID/fd`, read only while a job waits for `ready on listening …`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

/// A listening socket to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `addr: None` matches any local address; a wildcard bind matches any `addr`.
    Tcp {
        addr: Option<IpAddr>,
        port: u16,
    },
    Udp {
        addr: Option<IpAddr>,
        port: u16,
    },
    Unix(String),
}

/// Parses a `/proc/net/tcp*` address: hex IPv4 (one host-order word) or IPv6 (four).
fn parse_addr(hex: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => {
            let w = u32::from_str_radix(ip, 16).ok()?;
            IpAddr::from(w.to_ne_bytes())
        }
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let w = u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::from(bytes)
        }
        _ => return None,
    };
    Some((ip, port))
}

fn addr_matches(want: Option<IpAddr>, have: IpAddr) -> bool {
    match want {
        None => true,
        Some(w) => have.is_unspecified() || w == have,
    }
}

/// Socket inodes listening as `spec` says.
pub fn listening_inodes(spec: &Listen) -> HashSet<u64> {
    let mut out = HashSet::new();
    let (files, state, want, port) = match spec {
        Listen::Tcp { addr, port } => (["tcp", "tcp6"], "0A", *addr, *port),
        // A bound UDP socket shows as state 07 (closed, not connected).
        Listen::Udp { addr, port } => (["udp", "udp6"], "07", *addr, *port),
        Listen::Unix(path) => {
            let text = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                // Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 = listening.
                let listening = f
                    .get(3)
                    .and_then(|x| u32::from_str_radix(x, 16).ok())
                    .is_some_and(|flags| flags & 0x10000 != 0);
                if listening && f.get(7) == Some(&path.as_str()) {
                    out.extend(f.get(6).and_then(|i| i.parse::<u64>().ok()));
                }
            }
            return out;
        }
    };
    for file in files {
        let text = std::fs::read_to_string(Path::new("/proc/net").join(file)).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(st), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            if *st != state {
                continue;
            }
            if let Some((ip, p)) = parse_addr(local)
                && p == port
                && addr_matches(want, ip)
                && let Ok(inode) = inode.parse()
            {
                out.insert(inode);
            }
        }
    }
    out
}

/// The socket inodes `pid` holds open.
pub fn socket_inodes_of(pid: u32) -> HashSet<u64> {
    let mut out = HashSet::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for e in entries.flatten() {
        if let Ok(target) = std::fs::read_link(e.path())
            && let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
        {
            out.insert(inode);
        }
    }
    out
}

/// Whether one of `pids` holds a socket listening as `spec` says.
pub fn held_by(spec: &Listen, pids: &[u32]) -> bool {
    let listening = listening_inodes(spec);
    !listening.is_empty()
        && pids
            .iter()
            .any(|p| !socket_inodes_of(*p).is_disjoint(&listening))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_addresses() {
        assert_eq!(
            parse_addr("0100007F:1F90"),
            Some((IpAddr::from([127, 0, 0, 1]), 8080))
        );
        let (ip, port) = parse_addr("00000000000000000000000001000000:0050").unwrap();
        assert_eq!((ip, port), ("::1".parse().unwrap(), 80));
        assert!(addr_matches(
            Some("127.0.0.1".parse().unwrap()),
            "0.0.0.0".parse().unwrap()
        ));
        assert!(!addr_matches(
            Some("10.0.0.1".parse().unwrap()),
            "127.0.0.1".parse().unwrap()
        ));
    }

    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let me = std::process::id();
        let spec = Listen::Tcp { addr: None, port };
        assert!(held_by(&spec, &[me]));
        let spec = Listen::Tcp {
            addr: Some("127.0.0.1".parse().unwrap()),
            port,
        };
        assert!(held_by(&spec, &[me]));
        drop(l);
        assert!(!held_by(&spec, &[me]));
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        assert!(held_by(&Listen::Udp { addr: None, port }, &[me]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let _ul = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let spec = Listen::Unix(path.display().to_string());
        assert!(held_by(&spec, &[me]));
    }
}
