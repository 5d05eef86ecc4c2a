//! The boot test: outset as `/sbin/init` of a real kernel under QEMU, one boot per case
//! folder of `tests/boot/cases/` (layout in `tests/boot/cases/README.md`). Each case's image
//! is built in its own temp dir from the freshly built `outset` and `outsetctl`, busybox and
//! the case's job files; the serial console is checked against the case's expected lines,
//! and the machine must power off (or reboot) by itself.
//!
//! Needs `qemu-system-x86_64`, a kernel in `/boot` and a static busybox (`.ci/run` installs
//! them); without them the cases skip, which under `CI=true` is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod vm;

use std::path::{Path, PathBuf};
use std::time::Duration;

use vm::{Host, Image, Vm};

/// A boot takes 2–3 s alone; TCG on a loaded machine can be many times slower.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/boot/cases")
}

/// The host's kernel, QEMU and busybox; None (skip) when missing, a failure under `CI=true`.
fn require_host() -> Option<Host> {
    match Host::find() {
        Ok(h) => Some(h),
        Err(why) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "the boot test needs {why}, and CI=true forbids skipping (.ci/run installs it)"
                );
            }
            eprintln!("SKIP: the boot test needs {why}");
            None
        }
    }
}

/// One line of a case's `monitor` or `type` file: when the console shows a line equal to
/// `when`, `command` goes to the QEMU monitor, or `command` and a newline are typed on the
/// serial console (once).
struct Trigger {
    when: String,
    command: String,
    typed: bool,
    sent: bool,
    /// Why the last try to send failed.
    error: Option<String>,
}

struct Case {
    dir: PathBuf,
    cmdline: String,
    expected: Vec<String>,
    triggers: Vec<Trigger>,
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn read_case(name: &str) -> Case {
    let dir = cases_dir().join(name);
    assert!(dir.is_dir(), "no case folder {}", dir.display());
    let expected = lines_of(&dir.join("expected"));
    assert!(!expected.is_empty(), "{name}/expected: no line");
    let trigger = |file: &'static str, typed: bool| {
        lines_of(&dir.join(file)).into_iter().map(move |l| {
            let (when, command) = l
                .split_once("=>")
                .unwrap_or_else(|| panic!("{name}/{file}: `{l}` is not `LINE => TEXT`"));
            Trigger {
                when: when.trim().to_string(),
                command: command.trim().to_string(),
                typed,
                sent: false,
                error: None,
            }
        })
    };
    let triggers = trigger("monitor", false)
        .chain(trigger("type", true))
        .collect();
    Case {
        cmdline: lines_of(&dir.join("cmdline")).join(" "),
        dir,
        expected,
        triggers,
    }
}

/// A console line without the kernel's `[    1.234567] ` timestamp.
fn bare(line: &str) -> &str {
    let l = line.trim_end();
    if let Some(rest) = l.strip_prefix('[')
        && let Some((stamp, after)) = rest.split_once("] ")
        && stamp.trim().chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return after;
    }
    l
}

fn console_lines(console: &str) -> impl Iterator<Item = &str> {
    console.lines().map(bare)
}

/// An expected line matches a console line equal to it, or, when it holds `*`, any line
/// that the pattern matches (`*` standing for any run of characters).
fn line_matches(want: &str, line: &str) -> bool {
    if want.contains('*') {
        outset_job::fnmatch::fnmatch(want, line)
    } else {
        want == line
    }
}

/// The steps of a case's `expected`: one line each, or the lines between `{` and `}`, which
/// may appear in any order among themselves.
fn steps(expected: &[String]) -> Vec<Vec<String>> {
    let mut steps = Vec::new();
    let mut group: Option<Vec<String>> = None;
    for line in expected {
        match (line.as_str(), &mut group) {
            ("{", None) => group = Some(Vec::new()),
            ("}", Some(_)) => steps.extend(group.take()),
            (_, Some(g)) => g.push(line.clone()),
            (_, None) => steps.push(vec![line.clone()]),
        }
    }
    assert!(group.is_none(), "expected: `{{` without `}}`");
    steps
}

/// The first expected line not found in order (each step after the last line of the step
/// before), or None when all are there.
fn missing(console: &str, expected: &[String]) -> Option<String> {
    let lines: Vec<&str> = console_lines(console).collect();
    let mut from = 0;
    for step in steps(expected) {
        let mut end = from;
        for want in &step {
            match lines[from..].iter().position(|l| line_matches(want, l)) {
                Some(i) => end = end.max(from + i + 1),
                None => return Some(want.clone()),
            }
        }
        from = end;
    }
    None
}

/// Boots one case and checks its console: the expected lines in order, no kernel panic,
/// and QEMU exiting by itself with status 0 (the guest powered off or rebooted).
fn run_case(name: &str) {
    let Some(host) = require_host() else { return };
    let mut case = read_case(name);
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Image::with_busybox(&host).with_outset();
    if case.dir.join("init").is_dir() {
        img.tree(&case.dir.join("init"), "etc/init");
    }
    if case.dir.join("files").is_dir() {
        img.tree(&case.dir.join("files"), "");
    }
    let modules = lines_of(&case.dir.join("modules"));
    if !modules.is_empty() {
        img.modules(&host.kernel, &modules);
    }
    let initrd = tmp.path().join("initramfs.cpio");
    img.write(&initrd);
    // `quiet`: fewer kernel lines to interleave with the jobs' output on the console; but
    // `loglevel=7` after it, so the console shows outset's informational records, which go
    // to the kernel log as PID 1 (`printk.devkmsg=on`: none dropped by the kernel's rate
    // limit on /dev/kmsg writers).
    let append = format!("quiet loglevel=7 printk.devkmsg=on {}", case.cmdline);
    // A case with a `nic` file gets a virtio NIC.
    let vm = Vm::boot(
        &host,
        &initrd,
        tmp.path(),
        &append,
        case.dir.join("nic").exists(),
    );
    let ended = vm.wait(BOOT_TIMEOUT, |vm, console| {
        for t in case.triggers.iter_mut().filter(|t| !t.sent) {
            if console_lines(console).any(|l| l == t.when) {
                // A failed send is tried again at the next look, and reported if it never
                // went through.
                let sent = if t.typed {
                    vm.type_text(&format!("{}\n", t.command))
                } else {
                    vm.monitor(&t.command)
                };
                match sent {
                    Ok(()) => t.sent = true,
                    Err(e) => t.error = Some(e),
                }
            }
        }
    });
    let report = |why: &str| -> String {
        format!(
            "boot case {name}: {why} (after {:.1} s)\n--- console ---\n{}\n---",
            ended.elapsed.as_secs_f64(),
            ended.console
        )
    };
    assert!(
        !ended.console.contains("Kernel panic"),
        "{}",
        report("the kernel panicked")
    );
    if let Some(t) = case.triggers.iter().find(|t| !t.sent) {
        panic!(
            "{}",
            report(&match &t.error {
                Some(e) => format!("`{}` could not be sent: {e}", t.command),
                None => format!("`{}` never showed: `{}` not sent", t.when, t.command),
            })
        );
    }
    if let Some(line) = missing(&ended.console, &case.expected) {
        panic!(
            "{}",
            report(&format!("expected line `{line}` not found in order"))
        );
    }
    match ended.status {
        None => panic!("{}", report("QEMU was still running at the timeout")),
        Some(st) => assert!(st.success(), "{}", report(&format!("QEMU exited {st}"))),
    }
    // Shown by nextest on failure only, or with --success-output.
    eprintln!("{}", report("passed"));
}

/// One test per case folder that is ready.
macro_rules! boot_cases {
    ($($name:ident),* $(,)?) => {
        /// The case folders with a test.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
    };
}

boot_cases!(
    immediate_poweroff,
    outset_alone,
    single_and_unknown_words,
    reboot,
    ctrl_alt_del,
    chromiumos_boot,
    chromiumos_failsafe,
    ubuntu_runlevels,
    busybox_poweroff,
    run_mounted_over,
    no_jobs_emergency_shell,
    resource_limits,
    device_events,
);

/// Case folders kept in the tree without a test yet, each with the feature it waits for.
const PENDING: &[(&str, &str)] = &[
    (
        "busybox_reboot",
        "busybox `reboot`'s SIGTERM to reboot (issue 13 item 5): SIGTERM to PID 1 re-executes outset (as Upstart and systemd), so busybox `reboot` does not reboot: use outset's",
    ),
    (
        "kbdrequest",
        "Alt-ArrowUp to reach PID 1 (KDSIGACCEPT, issue 13 item 5): with Alt-ArrowUp bound to \
         KeyboardSignal (checked with dumpkmap), QEMU's `sendkey alt-up` emits nothing, while \
         `kill -WINCH 1` from a job does emit kbdrequest",
    ),
];

/// Every case folder is run by a test or listed as pending with its reason, and nothing else
/// is listed: a folder cannot be silently left out.
#[test]
fn every_case_folder_is_tested_or_pending() {
    let mut folders: Vec<String> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut listed: Vec<String> = TESTED
        .iter()
        .map(|s| s.to_string())
        .chain(PENDING.iter().map(|(s, _)| s.to_string()))
        .collect();
    listed.sort();
    assert_eq!(folders, listed, "case folders vs TESTED + PENDING");
    for (name, why) in PENDING {
        eprintln!("PENDING boot case {name}: needs {why}");
    }
}

#[test]
fn console_lines_match_in_order_without_timestamps() {
    let console = "[    0.5] Run /sbin/init\r\nhello\n[   12.000001] reboot: Power down\n";
    let console = console.replace('\r', "");
    let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(missing(&console, &want(&["hello", "reboot: Power down"])).is_none());
    assert_eq!(
        missing(&console, &want(&["reboot: Power down", "hello"])).unwrap(),
        "hello"
    );
    // A group matches in any order, and the next step comes after all of it.
    let group = want(&["{", "reboot: Power down", "hello", "}", "hello"]);
    assert_eq!(missing(&console, &group).unwrap(), "hello");
    let group = want(&["{", "reboot: Power down", "hello", "}"]);
    assert!(missing(&console, &group).is_none());
    assert!(missing(&console, &want(&["hell"])).is_some());
    // Terminal resets do not hide the line they start.
    let reset = vm::strip_escapes("ROM...\r\n\u{1b}c\u{1b}[?7l\u{1b}[2Jhello\r\n");
    assert!(missing(&reset, &want(&["hello"])).is_none());
    assert!(missing(&console, &want(&["h*o", "reboot: * down"])).is_none());
}
