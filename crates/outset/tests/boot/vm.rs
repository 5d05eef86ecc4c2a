//! A virtual machine for the boot test and the `boot` benchmark: an initramfs built from the
//! freshly built binaries, busybox and job files, booted by a real kernel under QEMU (TCG),
//! its serial console captured to a file.
//!
//! Shared by `tests/boot/main.rs` and `benches/boot.rs` (included there by path).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const OUTSET: &str = env!("CARGO_BIN_EXE_outset");
pub const OUTSETCTL: &str = env!("CARGO_BIN_EXE_outsetctl");

/// Names under which the image runs the client (its multi-call names; `initctl` first).
pub const CLIENT_NAMES: [&str; 12] = [
    "sbin/initctl",
    "sbin/start",
    "sbin/stop",
    "sbin/restart",
    "sbin/status",
    "sbin/reload",
    "sbin/shutdown",
    "sbin/reboot",
    "sbin/halt",
    "sbin/poweroff",
    "sbin/telinit",
    "sbin/runlevel",
];

/// What the boot needs from the host: a kernel, QEMU and a static busybox.
pub struct Host {
    pub kernel: PathBuf,
    pub qemu: PathBuf,
    pub busybox: PathBuf,
}

impl Host {
    /// The host's kernel, QEMU and busybox, or why not. `OUTSET_BOOT_KERNEL` names another
    /// kernel; by default the newest `/boot/vmlinuz-*-cloud-amd64` (`linux-image-cloud-amd64`),
    /// else the newest `/boot/vmlinuz-*`.
    pub fn find() -> Result<Host, String> {
        let kernel = match std::env::var_os("OUTSET_BOOT_KERNEL") {
            Some(k) => PathBuf::from(k),
            None => find_kernel().ok_or("no kernel /boot/vmlinuz-* (linux-image-cloud-amd64)")?,
        };
        if !kernel.is_file() {
            return Err(format!("kernel {} is not a file", kernel.display()));
        }
        let qemu = which("qemu-system-x86_64").ok_or("no qemu-system-x86_64 (qemu-system-x86)")?;
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or("no /bin/busybox (busybox-static)")?;
        // A dynamically linked busybox would need its libraries in the image too.
        let ldd = Command::new("ldd").arg(&busybox).output();
        if let Ok(out) = ldd
            && out.status.success()
            && !String::from_utf8_lossy(&out.stdout).contains("not a dynamic")
        {
            return Err(format!(
                "{} is not static (install busybox-static)",
                busybox.display()
            ));
        }
        Ok(Host {
            kernel,
            qemu,
            busybox,
        })
    }
}

fn find_kernel() -> Option<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    all.sort();
    let cloud = all
        .iter()
        .rev()
        .find(|p| p.to_string_lossy().ends_with("-cloud-amd64"));
    cloud.or(all.last()).cloned()
}

fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// One entry of the image.
enum Entry {
    Dir,
    File { data: Vec<u8>, mode: u32 },
    Symlink(String),
    CharDev(u32, u32),
}

/// The files of an initramfs, by path (no leading `/`).
pub struct Image {
    entries: BTreeMap<String, Entry>,
}

impl Image {
    /// An image with busybox and its applet links, the directories a boot mounts on, and
    /// `/dev/console` (so the kernel can open it before anything mounts `/dev`).
    pub fn with_busybox(host: &Host) -> Image {
        let mut img = Image {
            entries: BTreeMap::new(),
        };
        for d in [
            "dev", "proc", "sys", "run", "tmp", "root", "etc/init", "var",
        ] {
            img.dir(d);
        }
        img.entries
            .insert("dev/console".into(), Entry::CharDev(5, 1));
        img.file("bin/busybox", std::fs::read(&host.busybox).unwrap(), 0o755);
        let list = Command::new(&host.busybox)
            .arg("--list-full")
            .output()
            .unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let applet = applet.trim().trim_start_matches('/');
            if !applet.is_empty() && applet != "bin/busybox" {
                img.symlink(applet, "/bin/busybox");
            }
        }
        img
    }

    /// Adds `outset` as `/sbin/init` and `outsetctl` under its multi-call names, with the
    /// shared libraries they load.
    pub fn with_outset(mut self) -> Image {
        for (bin, at) in [(OUTSET, "sbin/outset"), (OUTSETCTL, "sbin/outsetctl")] {
            self.binary(Path::new(bin), at);
        }
        self.symlink("sbin/init", "outset");
        for name in CLIENT_NAMES {
            self.symlink(name, "outsetctl");
        }
        self
    }

    pub fn dir(&mut self, path: &str) {
        let path = path.trim_matches('/');
        let mut at = String::new();
        for part in path.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            self.entries.entry(at.clone()).or_insert(Entry::Dir);
        }
    }

    fn parent(&mut self, path: &str) {
        if let Some((dir, _)) = path.rsplit_once('/') {
            self.dir(dir);
        }
    }

    pub fn file(&mut self, path: &str, data: impl Into<Vec<u8>>, mode: u32) {
        let path = path.trim_start_matches('/');
        self.parent(path);
        let data = data.into();
        self.entries
            .insert(path.to_string(), Entry::File { data, mode });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        let path = path.trim_start_matches('/');
        self.parent(path);
        self.entries
            .insert(path.to_string(), Entry::Symlink(target.to_string()));
    }

    /// The kernel modules `names` need, dependencies first, from the host's
    /// `/lib/modules/VERSION` of `kernel` (`vmlinuz-VERSION`): each at `lib/modules/NAME.ko`,
    /// and their load order in `lib/modules/load-order`, one file name a line (a job loads
    /// them with busybox `insmod`). Panics when the kernel's modules are not installed.
    pub fn modules(&mut self, kernel: &Path, names: &[String]) {
        let version = kernel
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("vmlinuz-"))
            .expect("the kernel is named vmlinuz-VERSION");
        let dir = Path::new("/lib/modules").join(version);
        let dep = std::fs::read_to_string(dir.join("modules.dep"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join("modules.dep").display()));
        // modules.dep: `path.ko: dep.ko dep.ko`, each line's dependencies already in load
        // order from last to first.
        let deps: BTreeMap<String, Vec<String>> = dep
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(m, d)| {
                (
                    m.to_string(),
                    d.split_whitespace().map(str::to_string).collect(),
                )
            })
            .collect();
        let mut order: Vec<String> = Vec::new();
        for name in names {
            let path = deps
                .keys()
                .find(|k| k.rsplit('/').next() == Some(&format!("{name}.ko")))
                .unwrap_or_else(|| panic!("no module {name} in {}", dir.display()))
                .clone();
            for m in deps[&path].iter().rev().chain(std::iter::once(&path)) {
                if !order.contains(m) {
                    order.push(m.clone());
                }
            }
        }
        let mut list = String::new();
        for m in &order {
            let file = m.rsplit('/').next().unwrap_or(m);
            self.file(
                &format!("lib/modules/{file}"),
                std::fs::read(dir.join(m)).unwrap(),
                0o644,
            );
            list.push_str(file);
            list.push('\n');
        }
        self.file("lib/modules/load-order", list.into_bytes(), 0o644);
    }

    /// Copies the files of a host directory (e.g. a case's job files) to `at`.
    pub fn tree(&mut self, from: &Path, at: &str) {
        self.dir(at);
        let mut names: Vec<_> = std::fs::read_dir(from)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let dest = format!("{at}/{name}");
            if p.is_dir() {
                self.tree(&p, &dest);
            } else {
                // Scripts stay executable.
                let exec = std::fs::metadata(&p).unwrap().permissions().mode() & 0o111 != 0;
                let mode = if exec { 0o755 } else { 0o644 };
                self.file(&dest, std::fs::read(&p).unwrap(), mode);
            }
        }
    }

    /// A dynamically linked program, stripped when `strip` is at hand (a debug build is
    /// mostly debug info, which the guest would unpack for nothing), with the libraries and
    /// the loader `ldd` names, each at its host path.
    pub fn binary(&mut self, bin: &Path, at: &str) {
        let stripped = std::env::temp_dir().join(format!(
            "outset-boot-strip-{}-{}",
            std::process::id(),
            at.replace('/', "_")
        ));
        let data = match Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(bin)
            .status()
        {
            Ok(s) if s.success() => {
                let d = std::fs::read(&stripped).unwrap();
                let _ = std::fs::remove_file(&stripped);
                d
            }
            _ => std::fs::read(bin).unwrap(),
        };
        self.file(at, data, 0o755);
        let out = Command::new("ldd").arg(bin).output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux… (0x…)`.
            let lib = match line.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(lib) = lib.filter(|l| l.starts_with('/')) {
                self.file(lib, std::fs::read(lib).unwrap(), 0o755);
            }
        }
    }

    /// The image as an uncompressed newc cpio archive (what `cpio -o -H newc` writes).
    pub fn cpio(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, e)) in (1u32..).zip(&self.entries) {
            let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match e {
                Entry::Dir => (0o040755, &[], (0, 0)),
                Entry::File { data, mode } => (0o100000 | mode, data, (0, 0)),
                Entry::Symlink(t) => (0o120777, t.as_bytes(), (0, 0)),
                Entry::CharDev(maj, min) => (0o020600, &[], (*maj, *min)),
            };
            let nlink = if matches!(e, Entry::Dir) { 2 } else { 1 };
            newc_entry(&mut out, path, ino, mode, nlink, data, rdev);
        }
        newc_entry(&mut out, "TRAILER!!!", 0, 0, 1, &[], (0, 0));
        out
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.cpio()).unwrap();
    }
}

fn newc_entry(
    out: &mut Vec<u8>,
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    data: &[u8],
    rdev: (u32, u32),
) {
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// A running QEMU; dropping it kills and reaps it (by its PID) if it has not exited.
pub struct Vm {
    child: Child,
    console: PathBuf,
    monitor: PathBuf,
    serial: PathBuf,
    /// The serial connection `type_text` opened.
    serial_conn: std::sync::Mutex<Option<UnixStream>>,
    started: Instant,
}

/// How a boot ended.
pub struct Ended {
    /// QEMU's exit status; None when it was killed at the timeout.
    pub status: Option<ExitStatus>,
    /// The serial console, `\r` removed.
    pub console: String,
    pub elapsed: Duration,
}

impl Vm {
    /// Boots `kernel` with the initramfs at `initrd`; the console goes to `<dir>/console.log`,
    /// the monitor listens on `<dir>/monitor.sock`. `append` is added to the command line.
    pub fn boot(host: &Host, initrd: &Path, dir: &Path, append: &str, nic: bool) -> Vm {
        let console = dir.join("console.log");
        let monitor = dir.join("monitor.sock");
        let serial = dir.join("serial.sock");
        let cmdline = format!("console=ttyS0 rdinit=/sbin/init panic=-1 {append}");
        // A virtio NIC on QEMU's user-mode network, `restrict=on`: the guest reaches nothing
        // outside it (the device is there for its uevent, not for traffic).
        let nic_args: &[&str] = if nic {
            &[
                "-netdev",
                "user,id=n0,restrict=on",
                "-device",
                "virtio-net-pci,netdev=n0",
            ]
        } else {
            &["-nic", "none"]
        };
        let child = Command::new(&host.qemu)
            .args(nic_args)
            .args(["-accel", "tcg", "-m", "512", "-nographic", "-no-reboot"])
            .arg("-kernel")
            .arg(&host.kernel)
            .arg("-initrd")
            .arg(initrd)
            .arg("-append")
            .arg(cmdline.trim())
            // The serial port: everything it prints goes to the log file, connected or not;
            // `type_text` writes to it through the socket.
            .arg("-chardev")
            .arg(format!(
                "socket,id=ser0,path={},server=on,wait=off,logfile={}",
                serial.display(),
                console.display()
            ))
            .args(["-serial", "chardev:ser0"])
            .arg("-monitor")
            .arg(format!("unix:{},server,nowait", monitor.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Vm {
            child,
            console,
            monitor,
            serial,
            serial_conn: std::sync::Mutex::new(None),
            started: Instant::now(),
        }
    }

    /// The console so far, without `\r` and terminal escapes (SeaBIOS and the kernel reset
    /// the terminal, `ESC c ESC [2J`, at the start of a line).
    pub fn console(&self) -> String {
        let text = std::fs::read(&self.console)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        strip_escapes(&text)
    }

    /// Sends one command to the QEMU monitor (e.g. `sendkey ctrl-alt-delete`) and waits for
    /// its next prompt: QEMU drops what a client sent if it hangs up before the command ran.
    pub fn monitor(&self, command: &str) -> Result<(), String> {
        let err = |e: std::io::Error| format!("monitor: {e}");
        let mut s = UnixStream::connect(&self.monitor).map_err(err)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(err)?;
        let mut seen = Vec::new();
        let mut prompts = |s: &mut UnixStream, want: usize| -> Result<(), String> {
            let mut buf = [0u8; 4096];
            while String::from_utf8_lossy(&seen).matches("(qemu) ").count() < want {
                let n = s.read(&mut buf).map_err(err)?;
                if n == 0 {
                    return Err("monitor: closed".into());
                }
                seen.extend_from_slice(&buf[..n]);
            }
            Ok(())
        };
        prompts(&mut s, 1)?;
        s.write_all(format!("{command}\n").as_bytes())
            .map_err(err)?;
        prompts(&mut s, 2)
    }

    /// Types `text` on the serial console (what a user at the machine's console would).
    /// The connection stays open for the rest of the boot, drained by a thread: QEMU drops
    /// input it has not read when a client hangs up, and stalls the guest when a client does
    /// not read its output.
    pub fn type_text(&self, text: &str) -> Result<(), String> {
        let err = |e: std::io::Error| format!("serial: {e}");
        let mut conn = self.serial_conn.lock().map_err(|_| "serial: poisoned")?;
        if conn.is_none() {
            let s = UnixStream::connect(&self.serial).map_err(err)?;
            let mut drain = s.try_clone().map_err(err)?;
            std::thread::spawn(move || std::io::copy(&mut drain, &mut std::io::sink()));
            *conn = Some(s);
        }
        match conn.as_mut() {
            Some(s) => s.write_all(text.as_bytes()).map_err(err),
            None => Err("serial: not connected".into()),
        }
    }

    /// Waits until QEMU exits or `timeout` passes, calling `tick` with the console so far
    /// every 50 ms (to act on what it shows). At the timeout QEMU is killed.
    pub fn wait(mut self, timeout: Duration, mut tick: impl FnMut(&Vm, &str)) -> Ended {
        let status = loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                break Some(st);
            }
            if self.started.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            let console = self.console();
            tick(&self, &console);
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let mut console = self.console();
        if !stderr.trim().is_empty() {
            console.push_str(&format!("\n[qemu stderr]\n{stderr}"));
        }
        Ended {
            status,
            console,
            elapsed: self.started.elapsed(),
        }
    }
}

/// `text` without `\r`, `ESC c` and CSI sequences (`ESC [` … a final byte in `@`–`~`).
pub fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            // `ESC [` … a final byte; `ESC c` and other pairs are dropped whole.
            '\u{1b}' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
