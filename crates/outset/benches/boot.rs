//! Boot benchmark: a real kernel under QEMU (TCG) boots the same initramfs with outset as
//! `/sbin/init`, then with busybox init running the same services from an `/etc/inittab`.
//! Measured in the guest's own clock (the kernel's printk timestamps): from the kernel's exec
//! of `/sbin/init` to a marker written to `/dev/kmsg` once every service has started, and
//! from a marker written just before `poweroff` to the kernel's `reboot: Power down`.
//!
//! Run with `cargo bench -p outset --bench boot` (needs `qemu-system-x86_64`, a kernel in
//! `/boot` and a static busybox, as the boot test does). `BENCH_ROUNDS` sets the boots per
//! init (default 5); `BENCH_SERVICES` the number of services (default 10). No target: the
//! figures and the ratio are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unused_imports)]
mod support;
#[allow(dead_code)]
#[path = "../tests/boot/vm.rs"]
mod vm;

use std::time::Duration;

use support::median;
use vm::{Host, Image, Vm};

const TIMEOUT: Duration = Duration::from_secs(120);

/// The mounts outset makes itself as PID 1, made by busybox init's `sysinit` lines.
const MOUNTS: [&str; 7] = [
    "/bin/mount -t proc proc /proc",
    "/bin/mount -t sysfs sysfs /sys",
    "/bin/mount -t devtmpfs devtmpfs /dev",
    "/bin/mount -t devpts devpts /dev/pts",
    "/bin/mount -t tmpfs tmpfs /dev/shm",
    "/bin/mount -t tmpfs tmpfs /run",
    "/bin/mount -t cgroup2 cgroup2 /sys/fs/cgroup",
];

/// The first job's marker (after the mounts, which need `/dev` for `/dev/kmsg`).
const FIRST: &str = "echo 'bench: first job' > /dev/kmsg";

/// The marker: every service is up, then the power-off is asked for.
fn marker(poweroff: &str) -> String {
    format!("echo 'bench: all up' > /dev/kmsg; echo 'bench: poweroff' > /dev/kmsg; exec {poweroff}")
}

fn outset_image(host: &Host, services: usize) -> Image {
    let mut img = Image::with_busybox(host).with_outset();
    img.file(
        "etc/init/first.conf",
        format!("start on startup\ntask\nexec sh -c \"{FIRST}\"\n"),
        0o644,
    );
    let mut after = Vec::new();
    for i in 0..services {
        img.file(
            &format!("etc/init/svc{i:02}.conf"),
            "start on startup\nexec sleep 100000\n",
            0o644,
        );
        after.push(format!("started svc{i:02}"));
    }
    img.file(
        "etc/init/marker.conf",
        format!(
            "start on {}\ntask\nexec sh -c \"{}\"\n",
            after.join(" and "),
            marker("/sbin/poweroff")
        ),
        0o644,
    );
    img
}

fn busybox_image(host: &Host, services: usize) -> Image {
    let mut img = Image::with_busybox(host);
    // `with_busybox` already links /sbin/init and /sbin/poweroff to busybox.
    let mut tab = String::new();
    for m in MOUNTS {
        tab.push_str(&format!("::sysinit:{m}\n"));
        if m.ends_with("/dev") {
            tab.push_str("::sysinit:/bin/mkdir -p /dev/pts /dev/shm\n");
        }
    }
    tab.push_str(&format!("::sysinit:/bin/sh -c \"{FIRST}\"\n"));
    // busybox init runs `once` lines in order without waiting: the marker comes after every
    // service has been started, as outset's `started` events say.
    for _ in 0..services {
        tab.push_str("::once:/bin/sleep 100000\n");
    }
    tab.push_str(&format!("::once:/bin/sh -c \"{}\"\n", marker("poweroff")));
    img.file("etc/inittab", tab, 0o644);
    img
}

/// One boot's spans in milliseconds.
struct Spans {
    /// Exec of `/sbin/init` to the first job (the init's own set-up, mounts included).
    first: f64,
    /// Exec of `/sbin/init` to every service up.
    up: f64,
    /// `poweroff` to the kernel's power-down.
    down: f64,
}

fn boot_once(host: &Host, img: &Image) -> Result<Spans, String> {
    let tmp = tempfile::tempdir().unwrap();
    let initrd = tmp.path().join("initramfs.cpio");
    img.write(&initrd);
    let vm = Vm::boot(host, &initrd, tmp.path(), "printk.time=1", false);
    let ended = vm.wait(TIMEOUT, |_, _| {});
    let stamp = |needle: &str| -> Result<f64, String> {
        ended
            .console
            .lines()
            .find(|l| l.contains(needle))
            .and_then(|l| l.strip_prefix('['))
            .and_then(|l| l.split_once(']'))
            .and_then(|(t, _)| t.trim().parse::<f64>().ok())
            .ok_or_else(|| {
                format!(
                    "no timestamped `{needle}` on the console:\n{}",
                    ended.console
                )
            })
    };
    if ended.status.is_none() {
        return Err(format!("still running at the timeout:\n{}", ended.console));
    }
    let exec = stamp("Run /sbin/init as init process")?;
    Ok(Spans {
        first: (stamp("bench: first job")? - exec) * 1000.0,
        up: (stamp("bench: all up")? - exec) * 1000.0,
        down: (stamp("reboot: Power down")? - stamp("bench: poweroff")?) * 1000.0,
    })
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("boot: not run with --bench; skipping");
        return;
    }
    let host = match Host::find() {
        Ok(h) => h,
        Err(why) => {
            eprintln!("boot: needs {why}; skipping");
            return;
        }
    };
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let services = env_usize("BENCH_SERVICES", 10);
    let outset = outset_image(&host, services);
    let busybox = busybox_image(&host, services);
    println!(
        "boot: {} under QEMU (TCG), {services} services, {rounds} boots per init",
        host.kernel.display()
    );
    let (mut o, mut b): (Vec<Spans>, Vec<Spans>) = (Vec::new(), Vec::new());
    // Alternating, so that both inits share the machine's conditions.
    for round in 0..rounds {
        let so = boot_once(&host, &outset).unwrap_or_else(|e| panic!("outset: {e}"));
        let sb = boot_once(&host, &busybox).unwrap_or_else(|e| panic!("busybox: {e}"));
        println!(
            "round {round}: outset first job {:.0} ms, up {:.0} ms, down {:.0} ms; \
             busybox init first job {:.0} ms, up {:.0} ms, down {:.0} ms",
            so.first, so.up, so.down, sb.first, sb.up, sb.down
        );
        o.push(so);
        b.push(sb);
    }
    println!("medians over {rounds} boots (outset, busybox init, ratio):");
    type Row = (&'static str, fn(&Spans) -> f64);
    let rows: [Row; 3] = [
        ("exec of /sbin/init to the first job", |s| s.first),
        ("exec of /sbin/init to all services up", |s| s.up),
        ("poweroff to power down", |s| s.down),
    ];
    for (what, f) in rows {
        let mo = median(&o.iter().map(f).collect::<Vec<_>>());
        let mb = median(&b.iter().map(f).collect::<Vec<_>>());
        println!(
            "{what:<40} outset {mo:>6.0} ms  busybox init {mb:>6.0} ms  ratio {:.2}",
            mo / mb
        );
    }
}
