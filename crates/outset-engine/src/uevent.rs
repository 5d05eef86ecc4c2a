//! Device events: uevent messages parsed and named as `upstart-udev-bridge` named them.
//!
//! Two wire formats arrive on the uevent netlink family (see docs/devices.md):
//! - the kernel's (group 1): `ACTION@DEVPATH\0KEY=VALUE\0…`;
//! - udevd's monitor messages (group 2, what libudev's "udev" monitor reads): a 40-byte
//!   header starting `libudev\0`, the magic `0xfeedcafe` in network order, then (native
//!   order) the header size, the offset and length of the properties, and filter hashes;
//!   the properties are `KEY=VALUE\0…`.
//!
//! Pure: bytes in, an event name and its environment out.

use outset_job::{Expr, JobConfig};

/// Who produced a message, read from its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The kernel (`ACTION@DEVPATH`).
    Kernel,
    /// udevd, after its rules ran (`libudev` header).
    Udev,
}

/// One parsed uevent: its origin and properties in message order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    pub origin: Origin,
    pub props: Vec<(String, String)>,
}

/// Why a message was not a uevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UeventError {
    /// Neither `ACTION@DEVPATH` nor a `libudev` header.
    UnknownFormat,
    /// A `libudev` header whose magic or property bounds are wrong.
    BadHeader,
    /// No `ACTION` or no `SUBSYSTEM`: nothing to name the event after.
    Incomplete,
}

impl std::fmt::Display for UeventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UeventError::UnknownFormat => "not a uevent (neither ACTION@DEVPATH nor libudev)",
            UeventError::BadHeader => "libudev message with a bad header",
            UeventError::Incomplete => "uevent without ACTION or SUBSYSTEM",
        })
    }
}

const UDEV_PREFIX: &[u8; 8] = b"libudev\0";
const UDEV_MAGIC: u32 = 0xfeed_cafe;
/// The size of libudev's `udev_monitor_netlink_header`.
const UDEV_HEADER_LEN: usize = 40;

/// Parses one message of either format.
pub fn parse(buf: &[u8]) -> Result<Uevent, UeventError> {
    if buf.starts_with(UDEV_PREFIX) {
        return parse_udev(buf);
    }
    // The kernel's first string is `ACTION@DEVPATH`; its properties repeat both.
    let mut parts = buf.split(|&b| b == 0);
    let head = parts.next().unwrap_or_default();
    if !head.contains(&b'@') || head.contains(&b'=') {
        return Err(UeventError::UnknownFormat);
    }
    let props = properties(parts);
    Ok(Uevent {
        origin: Origin::Kernel,
        props,
    })
}

fn parse_udev(buf: &[u8]) -> Result<Uevent, UeventError> {
    let word = |at: usize, big: bool| -> Option<u32> {
        let b: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_ne_bytes(b)
        })
    };
    if buf.len() < UDEV_HEADER_LEN || word(8, true) != Some(UDEV_MAGIC) {
        return Err(UeventError::BadHeader);
    }
    let off = word(16, false).ok_or(UeventError::BadHeader)? as usize;
    let len = word(20, false).ok_or(UeventError::BadHeader)? as usize;
    let end = off.checked_add(len).ok_or(UeventError::BadHeader)?;
    if off < UDEV_HEADER_LEN || end > buf.len() {
        return Err(UeventError::BadHeader);
    }
    Ok(Uevent {
        origin: Origin::Udev,
        props: properties(buf[off..end].split(|&b| b == 0)),
    })
}

/// `KEY=VALUE` strings; empty strings and strings without `=` are skipped.
fn properties<'a>(parts: impl Iterator<Item = &'a [u8]>) -> Vec<(String, String)> {
    parts
        .filter_map(|p| {
            let eq = p.iter().position(|&b| b == b'=')?;
            let key = String::from_utf8_lossy(&p[..eq]).into_owned();
            if key.is_empty() {
                return None;
            }
            Some((key, String::from_utf8_lossy(&p[eq + 1..]).into_owned()))
        })
        .collect()
}

impl Uevent {
    /// The value of a property.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The event `upstart-udev-bridge` emitted for it: `<subsystem>-device-<added|changed|
    /// removed|action>`, with `KERNEL`, `DEVPATH`, `DEVNAME` (the device node, `/dev/…`),
    /// `SUBSYSTEM` and `ACTION` first, then every other property in message order.
    pub fn event(&self) -> Result<(String, Vec<(String, String)>), UeventError> {
        let action = self.get("ACTION").ok_or(UeventError::Incomplete)?;
        let subsystem = self.get("SUBSYSTEM").ok_or(UeventError::Incomplete)?;
        if action.is_empty() || subsystem.is_empty() {
            return Err(UeventError::Incomplete);
        }
        let name = format!("{subsystem}-device-{}", action_word(action));
        let mut env = Vec::with_capacity(self.props.len() + 1);
        let devpath = self.get("DEVPATH");
        // libudev's sysname: the last DEVPATH component, `!` standing for `/`.
        if let Some(kernel) = devpath
            .and_then(|p| p.rsplit('/').next())
            .filter(|k| !k.is_empty())
        {
            env.push(("KERNEL".to_string(), kernel.replace('!', "/")));
        }
        if let Some(p) = devpath {
            env.push(("DEVPATH".to_string(), p.to_string()));
        }
        // libudev's devnode: the kernel's DEVNAME is relative to /dev, udevd's is absolute.
        if let Some(n) = self.get("DEVNAME").filter(|n| !n.is_empty()) {
            let node = if n.starts_with('/') {
                n.to_string()
            } else {
                format!("/dev/{n}")
            };
            env.push(("DEVNAME".to_string(), node));
        }
        env.push(("SUBSYSTEM".to_string(), subsystem.to_string()));
        env.push(("ACTION".to_string(), action.to_string()));
        for (k, v) in &self.props {
            if !matches!(k.as_str(), "DEVPATH" | "DEVNAME" | "SUBSYSTEM" | "ACTION") {
                env.push((k.clone(), v.clone()));
            }
        }
        Ok((name, env))
    }
}

/// The bridge's words for the three common actions; any other action is used as it is.
fn action_word(action: &str) -> &str {
    match action {
        "add" => "added",
        "change" => "changed",
        "remove" => "removed",
        other => other,
    }
}

/// Whether a kernel message is taken: with udevd running its own message (sent once its
/// rules ran, with their properties) stands for the device, as the bridge only read
/// udev's; without udevd the kernel's is all there is.
pub fn take(origin: Origin, udevd_running: bool) -> bool {
    origin == Origin::Udev || !udevd_running
}

/// Whether a device event can matter to a job: its `start on` or `stop on` names one
/// (`<subsystem>-device-<action>`). The daemon listens for uevents only then.
pub fn job_wants_devices(job: &JobConfig) -> bool {
    fn walk(e: &Expr) -> bool {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => walk(a) || walk(b),
            Expr::Event(m) => is_device_event(&m.name),
            Expr::Ready(_) => false,
        }
    }
    [&job.start_on, &job.stop_on]
        .into_iter()
        .flatten()
        .any(walk)
}

pub use outset_job::is_device_event;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// What the kernel sent (Linux 6.18, read from group 1) when a veth pair was made in a
    /// fresh network namespace.
    const KERNEL_VETH_ADD: &[u8] = b"add@/devices/virtual/net/outsetv0\0ACTION=add\0DEVPATH=/devices/virtual/net/outsetv0\0SUBSYSTEM=net\0INTERFACE=outsetv0\0IFINDEX=3\0SEQNUM=874\0";
    /// The same device's queue, a second subsystem.
    const KERNEL_QUEUE_ADD: &[u8] = b"add@/devices/virtual/net/outsetv1/queues/rx-0\0ACTION=add\0DEVPATH=/devices/virtual/net/outsetv1/queues/rx-0\0SUBSYSTEM=queues\0SEQNUM=870\0";

    /// A udevd message: header, then properties (as libudev builds it).
    fn udev_message(props: &[&str]) -> Vec<u8> {
        let mut body = Vec::new();
        for p in props {
            body.extend_from_slice(p.as_bytes());
            body.push(0);
        }
        let mut m = Vec::new();
        m.extend_from_slice(b"libudev\0");
        m.extend_from_slice(&0xfeed_cafe_u32.to_be_bytes());
        m.extend_from_slice(&40u32.to_ne_bytes());
        m.extend_from_slice(&40u32.to_ne_bytes());
        m.extend_from_slice(&(body.len() as u32).to_ne_bytes());
        m.extend_from_slice(&[0u8; 16]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn issue17_item3_kernel_message_names_the_bridge_event() {
        assert_eq!(
            parse(KERNEL_QUEUE_ADD).unwrap().event().unwrap().0,
            "queues-device-added"
        );
        let ev = parse(KERNEL_VETH_ADD).unwrap();
        assert_eq!(ev.origin, Origin::Kernel);
        let (name, env) = ev.event().unwrap();
        assert_eq!(name, "net-device-added");
        let want: Vec<(String, String)> = [
            ("KERNEL", "outsetv0"),
            ("DEVPATH", "/devices/virtual/net/outsetv0"),
            ("SUBSYSTEM", "net"),
            ("ACTION", "add"),
            ("INTERFACE", "outsetv0"),
            ("IFINDEX", "3"),
            ("SEQNUM", "874"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, want);
    }

    #[test]
    fn issue17_item3_udev_message_with_devnode_and_other_actions() {
        let m = udev_message(&[
            "ACTION=remove",
            "DEVPATH=/devices/pci0000:00/0000:00:01.1/ata1/host0/target0:0:0/0:0:0:0/block/sda",
            "SUBSYSTEM=block",
            "DEVNAME=/dev/sda",
            "DEVTYPE=disk",
            "ID_SERIAL=QEMU_HARDDISK",
        ]);
        let ev = parse(&m).unwrap();
        assert_eq!(ev.origin, Origin::Udev);
        let (name, env) = ev.event().unwrap();
        assert_eq!(name, "block-device-removed");
        assert_eq!(env[0], ("KERNEL".into(), "sda".into()));
        assert_eq!(env[2], ("DEVNAME".into(), "/dev/sda".into()));
        assert!(env.contains(&("ID_SERIAL".into(), "QEMU_HARDDISK".into())));
        // DEVPATH, DEVNAME, SUBSYSTEM and ACTION appear once each.
        assert_eq!(env.iter().filter(|(k, _)| k == "DEVNAME").count(), 1);
        for (action, word) in [("change", "changed"), ("move", "move"), ("bind", "bind")] {
            let m = udev_message(&[&format!("ACTION={action}"), "SUBSYSTEM=usb"]);
            assert_eq!(
                parse(&m).unwrap().event().unwrap().0,
                format!("usb-device-{word}")
            );
        }
    }

    #[test]
    fn issue17_item3_kernel_devname_becomes_a_dev_path_and_bang_a_slash() {
        let m = b"add@/devices/virtual/block/cciss!c0d0\0ACTION=add\0DEVPATH=/devices/virtual/block/cciss!c0d0\0SUBSYSTEM=block\0DEVNAME=cciss/c0d0\0";
        let (_, env) = parse(m).unwrap().event().unwrap();
        assert_eq!(env[0], ("KERNEL".into(), "cciss/c0d0".into()));
        assert_eq!(env[2], ("DEVNAME".into(), "/dev/cciss/c0d0".into()));
    }

    #[test]
    fn issue17_item3_bad_messages_are_errors() {
        assert_eq!(parse(b""), Err(UeventError::UnknownFormat));
        assert_eq!(parse(b"KEY=VALUE\0"), Err(UeventError::UnknownFormat));
        let mut m = udev_message(&["ACTION=add", "SUBSYSTEM=net"]);
        m[8] = 0; // magic
        assert_eq!(parse(&m), Err(UeventError::BadHeader));
        let mut m = udev_message(&["ACTION=add"]);
        m[20..24].copy_from_slice(&u32::MAX.to_ne_bytes()); // length past the end
        assert_eq!(parse(&m), Err(UeventError::BadHeader));
        assert_eq!(parse(&m[..30]), Err(UeventError::BadHeader));
        let ev = parse(b"add@/x\0ACTION=add\0").unwrap();
        assert_eq!(ev.event(), Err(UeventError::Incomplete));
    }

    #[test]
    fn issue17_item3_kernel_messages_only_without_udevd() {
        assert!(take(Origin::Kernel, false));
        assert!(!take(Origin::Kernel, true));
        assert!(take(Origin::Udev, true));
        assert!(take(Origin::Udev, false));
    }

    #[test]
    fn issue17_item3_jobs_naming_device_events_are_found() {
        let job = |text: &str| outset_job::parse_job("j", text).unwrap();
        assert!(job_wants_devices(&job(
            "start on net-device-added INTERFACE=eth0\nexec true\n"
        )));
        assert!(job_wants_devices(&job(
            "start on startup\nstop on (runlevel [016] or block-device-removed)\nexec true\n"
        )));
        assert!(!job_wants_devices(&job("start on startup\nexec true\n")));
        assert!(!is_device_event("-device-added"));
        assert!(!is_device_event("net-device-"));
    }

    proptest::proptest! {
        /// Any bytes (a hostile sender, a truncated message): an error or an event, never a
        /// panic; and a libudev header with any offsets stays within the message.
        #[test]
        fn issue17_item3_any_bytes_parse_without_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            off in proptest::num::u32::ANY,
            len in proptest::num::u32::ANY,
        ) {
            if let Ok(ev) = parse(&body) {
                let _ = ev.event();
            }
            let mut m = udev_message(&[]);
            m[16..20].copy_from_slice(&off.to_ne_bytes());
            m[20..24].copy_from_slice(&len.to_ne_bytes());
            m.extend_from_slice(&body);
            if let Ok(ev) = parse(&m) {
                let _ = ev.event();
            }
        }
    }
}
