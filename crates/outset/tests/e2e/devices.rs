//! Device events (issue 17 item 3): uevents become `<subsystem>-device-<action>` events with
//! the bridge's environment. Injected through the `--uevent-socket` test hook in both wire
//! formats, and for real: a network device made in a network namespace of the daemon's own.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// A udevd monitor message (libudev's header, then the properties).
fn udev_message(props: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in props {
        body.extend_from_slice(p.as_bytes());
        body.push(0);
    }
    let mut m = b"libudev\0".to_vec();
    m.extend_from_slice(&0xfeed_cafe_u32.to_be_bytes());
    m.extend_from_slice(&40u32.to_ne_bytes());
    m.extend_from_slice(&40u32.to_ne_bytes());
    m.extend_from_slice(&(body.len() as u32).to_ne_bytes());
    m.extend_from_slice(&[0u8; 16]);
    m.extend_from_slice(&body);
    m
}

#[test]
fn issue17_item3_injected_uevents_start_jobs_with_the_bridge_env() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    d.write_job(
        "eth0-up",
        &format!(
            "start on net-device-added INTERFACE=eth0\ntask\n\
             exec sh -c 'echo \"$UPSTART_EVENTS $KERNEL $DEVPATH $SUBSYSTEM $ACTION $INTERFACE\" >> {p}/eth0.out'\n"
        ),
    );
    d.write_job(
        "disk-gone",
        &format!(
            "start on block-device-removed\ntask\n\
             exec sh -c 'echo \"$KERNEL $DEVNAME $ID_SERIAL\" >> {p}/disk.out'\n"
        ),
    );
    let hook = d.path("uevents");
    let hook_arg = hook.display().to_string();
    d.start(&["--no-startup-event", "--uevent-socket", &hook_arg]);
    d.wait_for("the uevent hook socket", Duration::from_secs(10), || {
        hook.exists()
    });
    let tx = UnixDatagram::unbound().unwrap();
    // Not a uevent at all, then a device the job does not want: both pass without effect.
    tx.send_to(b"garbage without an at sign\0", &hook).unwrap();
    tx.send_to(
        b"add@/devices/virtual/net/lo\0ACTION=add\0DEVPATH=/devices/virtual/net/lo\0SUBSYSTEM=net\0INTERFACE=lo\0IFINDEX=1\0SEQNUM=1\0",
        &hook,
    )
    .unwrap();
    tx.send_to(
        b"add@/devices/pci0000:00/0000:00:03.0/virtio0/net/eth0\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:03.0/virtio0/net/eth0\0SUBSYSTEM=net\0INTERFACE=eth0\0IFINDEX=2\0SEQNUM=2\0",
        &hook,
    )
    .unwrap();
    tx.send_to(
        &udev_message(&[
            "ACTION=remove",
            "DEVPATH=/devices/virtual/block/loop7",
            "SUBSYSTEM=block",
            "DEVNAME=/dev/loop7",
            "ID_SERIAL=outset-test",
            "SEQNUM=3",
        ]),
        &hook,
    )
    .unwrap();
    assert_eq!(
        d.wait_file("eth0.out").trim(),
        "net-device-added eth0 /devices/pci0000:00/0000:00:03.0/virtio0/net/eth0 net add eth0"
    );
    assert_eq!(
        d.wait_file("disk.out").trim(),
        "loop7 /dev/loop7 outset-test"
    );
    let log = d.stderr();
    assert!(log.contains("test hook"), "{log}");
    // The daemon is still there and heard nothing else.
    d.wait_status(&["eth0-up"], "stop/waiting");
    assert_eq!(d.wait_file("eth0.out").lines().count(), 1);
}

#[test]
fn issue17_item3_no_device_job_no_uevent_socket() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    d.write_job("plain", "start on startup\nexec sleep 60\n");
    let hook = d.path("uevents");
    let hook_arg = hook.display().to_string();
    d.start(&["--no-startup-event", "--uevent-socket", &hook_arg]);
    d.ctl_ok(&["status", "plain"]);
    assert!(
        !hook.exists(),
        "uevents are read although no job wants them"
    );
    // A job that names a device event arrives: the socket opens on reload.
    d.write_job("dev", "start on usb-device-added\ntask\nexec true\n");
    d.ctl_ok(&["reload-configuration"]);
    d.wait_for("the uevent hook socket", Duration::from_secs(10), || {
        hook.exists()
    });
    // And closes when the last one goes.
    std::fs::remove_file(d.confdir.join("dev.conf")).unwrap();
    d.ctl_ok(&["reload-configuration"]);
    d.wait_for(
        "the uevent hook socket to go",
        Duration::from_secs(10),
        || !hook.exists(),
    );
}

/// A real kernel uevent: the daemon runs in a network namespace of its own, where the test
/// makes a network device (a veth pair, or a dummy where that driver exists); the namespace,
/// and the devices with it, go when the daemon does. The host's interfaces are not touched,
/// and the uevent is the namespace's alone (the kernel sends a network device's uevents to
/// its own namespace only).
#[test]
fn issue17_item3_real_kernel_uevent_from_a_new_network_device() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let (Some(_), Some(_), Some(_)) = (installed("ip"), installed("unshare"), installed("nsenter"))
    else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    d.write_job(
        "veth-up",
        &format!(
            "start on net-device-added INTERFACE=outsetv0\ntask\n\
             exec sh -c 'echo \"$KERNEL $SUBSYSTEM $ACTION $INTERFACE\" >> {p}/veth.out'\n"
        ),
    );
    d.start_under(
        &["unshare", "--net"],
        &["--user", "--no-startup-event", "--uevent-source", "kernel"],
    );
    let pid = d.child.as_ref().unwrap().id().to_string();
    let made = Command::new("nsenter")
        .args(["-t", &pid, "-n", "ip", "link", "add", "outsetv0"])
        .args(["type", "veth", "peer", "name", "outsetv1"])
        .status()
        .unwrap();
    assert!(
        made.success(),
        "ip link add in the daemon's namespace failed"
    );
    let out = d.wait_file("veth.out");
    assert_eq!(
        out.lines().next(),
        Some("outsetv0 net add outsetv0"),
        "{out}"
    );
}
