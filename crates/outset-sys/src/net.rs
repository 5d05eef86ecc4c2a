//! Which sockets are listening, and which process holds them: `/proc/net` and
//! `/proc/PID/fd`, read while a job waits for `ready on listening …` and while
//! `outsetctl trace` looks for the sockets of the traced processes.

use std::collections::{HashMap, HashSet};
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

/// The kind of a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListenProto {
    Tcp,
    Udp,
    Unix,
}

impl ListenProto {
    /// `tcp`, `udp` or `unix`, as in `ready on listening`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenProto::Tcp => "tcp",
            ListenProto::Udp => "udp",
            ListenProto::Unix => "unix",
        }
    }
}

/// A listening socket and where it listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenAddr {
    pub proto: ListenProto,
    /// The local address (`None` for unix sockets).
    pub ip: Option<IpAddr>,
    pub port: u16,
    /// The unix socket path (`@name` for the abstract namespace); empty for TCP/UDP.
    pub path: String,
}

impl ListenAddr {
    /// `IPv4` or `IPv6` for an IP socket: a daemon bound to both shows two sockets with
    /// one [`spec`](Self::spec).
    pub fn family(&self) -> Option<&'static str> {
        match self.ip {
            Some(IpAddr::V4(_)) => Some("IPv4"),
            Some(IpAddr::V6(_)) => Some("IPv6"),
            None => None,
        }
    }

    /// The address as `ready on listening` takes it: `tcp:127.0.0.1:80`, `tcp:[::1]:80`,
    /// `tcp:80` for a wildcard bind (any address), `unix:/run/x.sock`.
    pub fn spec(&self) -> String {
        let proto = self.proto.as_str();
        match self.ip {
            None => format!("{proto}:{}", self.path),
            Some(ip) if ip.is_unspecified() => format!("{proto}:{}", self.port),
            Some(IpAddr::V6(ip)) => format!("{proto}:[{ip}]:{}", self.port),
            Some(IpAddr::V4(ip)) => format!("{proto}:{ip}:{}", self.port),
        }
    }
}

/// Parses a `/proc/net/tcp*` address: hex IPv4 (one host-order word) or IPv6 (four).
fn parse_addr(hex: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes()),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::from(bytes)
        }
        _ => return None,
    };
    Some((ip, port))
}

/// The one `/proc/net` parser: the listening sockets of `proto` in this network namespace,
/// as (inode, address): TCP in LISTEN (state 0A), UDP bound (state 07: closed, not
/// connected), unix stream/seqpacket sockets that accept (flag 0x10000), with a path. Port
/// 0 and inode 0 are kept; callers filter.
fn read_table(proto: ListenProto) -> Vec<(u64, ListenAddr)> {
    let mut out = Vec::new();
    let (files, state) = match proto {
        ListenProto::Tcp => (["tcp", "tcp6"], "0A"),
        ListenProto::Udp => (["udp", "udp6"], "07"),
        ListenProto::Unix => {
            let text = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                // Num RefCount Protocol Flags Type St Inode Path.
                let listening = f
                    .get(3)
                    .and_then(|x| u32::from_str_radix(x, 16).ok())
                    .is_some_and(|flags| flags & 0x10000 != 0);
                if listening
                    && let (Some(inode), Some(path)) =
                        (f.get(6).and_then(|i| i.parse().ok()), f.get(7))
                {
                    out.push((
                        inode,
                        ListenAddr {
                            proto,
                            ip: None,
                            port: 0,
                            path: (*path).to_string(),
                        },
                    ));
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
            if let Some((ip, port)) = parse_addr(local)
                && let Ok(inode) = inode.parse::<u64>()
            {
                out.push((
                    inode,
                    ListenAddr {
                        proto,
                        ip: Some(ip),
                        port,
                        path: String::new(),
                    },
                ));
            }
        }
    }
    out
}

/// Every listening socket in this network namespace, by inode (those with a port and an
/// inode): what `outsetctl trace` reports.
pub fn listening_sockets() -> HashMap<u64, ListenAddr> {
    [ListenProto::Tcp, ListenProto::Udp, ListenProto::Unix]
        .into_iter()
        .flat_map(read_table)
        .filter(|(inode, a)| *inode != 0 && (a.proto == ListenProto::Unix || a.port != 0))
        .collect()
}

fn addr_matches(want: Option<IpAddr>, have: IpAddr) -> bool {
    match want {
        None => true,
        Some(w) => have.is_unspecified() || w == have,
    }
}

/// Socket inodes listening as `spec` says.
pub fn listening_inodes(spec: &Listen) -> HashSet<u64> {
    let (proto, want, port) = match spec {
        Listen::Tcp { addr, port } => (ListenProto::Tcp, *addr, *port),
        Listen::Udp { addr, port } => (ListenProto::Udp, *addr, *port),
        Listen::Unix(path) => {
            return read_table(ListenProto::Unix)
                .into_iter()
                .filter(|(_, a)| a.path == *path)
                .map(|(inode, _)| inode)
                .collect();
        }
    };
    read_table(proto)
        .into_iter()
        .filter(|(_, a)| a.port == port && a.ip.is_some_and(|ip| addr_matches(want, ip)))
        .map(|(inode, _)| inode)
        .collect()
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

    /// Issue 12 item 5: the one `/proc/net` parser also gives the table `outsetctl trace`
    /// reads, with the addresses as `ready on listening` takes them.
    #[test]
    fn listen_addresses_and_table() {
        let (ip, port) = parse_addr("0100007F:1F90").unwrap();
        let a = ListenAddr {
            proto: ListenProto::Tcp,
            ip: Some(ip),
            port,
            path: String::new(),
        };
        assert_eq!(a.spec(), "tcp:127.0.0.1:8080");
        assert_eq!(a.family(), Some("IPv4"));
        let (ip, port) = parse_addr("00000000000000000000000001000000:0050").unwrap();
        let v6 = ListenAddr {
            proto: ListenProto::Udp,
            ip: Some(ip),
            port,
            path: String::new(),
        };
        assert_eq!(v6.spec(), "udp:[::1]:80");
        let any = ListenAddr {
            ip: Some("0.0.0.0".parse().unwrap()),
            ..a.clone()
        };
        assert_eq!(any.spec(), "tcp:8080");
        assert!(parse_addr("zz").is_none());
        assert!(parse_addr("0100007F0:1F90").is_none());
        // Our own listeners show up in the table.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let _ul = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let table = listening_sockets();
        assert!(
            table
                .values()
                .any(|a| a.spec() == format!("tcp:127.0.0.1:{port}")),
            "{table:?}"
        );
        assert!(
            table
                .values()
                .any(|a| a.spec() == format!("unix:{}", path.display())),
            "{table:?}"
        );
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
