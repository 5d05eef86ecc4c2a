//! Issue 18 item 6: the Debian package, built from the debug binaries the test build
//! already made, installs with dpkg into a throw-away root, and its binaries run there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use outset_dist::{deb, man, workspace_root};

/// The tools the builder needs, or None: skip, which under CI=true is a failure.
fn require_tools() -> Option<()> {
    for tool in ["dpkg-deb", "dpkg", "dpkg-shlibdeps", "strip", "gzip"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "{tool} is not installed, and CI=true forbids skipping (.ci/run installs it)"
                );
            }
            eprintln!("SKIP: {tool} is not installed");
            return None;
        }
    }
    Some(())
}

/// The folder of this test build's binaries (target/debug), when outset and outsetctl are
/// there: `cargo nextest run --workspace` builds them before any test runs.
fn built_bins() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.to_path_buf();
    deb::BINARIES
        .iter()
        .all(|b| dir.join(b).is_file())
        .then_some(dir)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installed-Size as dpkg counts it, over the unpacked files.
fn kib(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        total += if meta.is_dir() {
            1 + kib(&path)
        } else if meta.is_file() {
            meta.len().div_ceil(1024)
        } else {
            1
        };
    }
    total
}

fn field(control: &str, name: &str) -> String {
    control
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in\n{control}"))
        .to_string()
}

#[test]
fn issue18_item6_package_installs_into_a_throwaway_root() {
    if require_tools().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bins = built_bins();
    let opts = deb::Options {
        profile: "dev".into(),
        build: bins.is_none(),
        bin_dir: bins,
        out_dir: Some(tmp.path().join("out")),
    };
    let package = deb::build(&opts).unwrap();

    // The control data.
    let control = run(Command::new("dpkg-deb").arg("-f").arg(&package));
    assert_eq!(field(&control, "Package"), "outset");
    assert_eq!(field(&control, "Version"), outset_dist::VERSION);
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(field(&control, "Architecture"), arch.trim());
    let depends = field(&control, "Depends");
    assert!(depends.contains("libc6 (>= 2."), "{depends}");
    let unpacked = tmp.path().join("unpacked");
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&package)
        .arg(&unpacked));
    assert_eq!(
        field(&control, "Installed-Size"),
        kib(&unpacked).to_string()
    );

    // Installed with dpkg into a root of its own (a dpkg database of its own; the
    // dependencies are the host's libraries, which that database does not list).
    let root = tmp.path().join("root");
    let db = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(db.join(d)).unwrap();
    }
    std::fs::write(db.join("status"), "").unwrap();
    let dpkg = |args: &[&str]| {
        let mut cmd = Command::new("dpkg");
        cmd.arg(format!("--root={}", root.display()))
            .arg("--log=/dev/null")
            .args(args);
        cmd
    };
    run(dpkg(&["--force-depends", "-i"]).arg(&package));
    let listed = run(&mut dpkg(&["-L", "outset"]));
    for path in [
        "/usr/bin/outset",
        "/usr/bin/outsetctl",
        "/usr/share/man/man8/outsetctl.8.gz",
        "/usr/share/man/man5/outset-job.5.gz",
        "/usr/share/bash-completion/completions/outsetctl",
        "/usr/share/zsh/vendor-completions/_outsetctl",
        "/usr/share/fish/vendor_completions.d/outsetctl.fish",
        "/usr/share/doc/outset/copyright",
        "/usr/share/doc/outset/packaging.md",
        "/usr/share/doc/outset/examples/clock.conf",
        "/usr/lib/outset/compat/bin/shutdown",
        "/usr/lib/outset/compat/share/man/man8/shutdown.8.gz",
    ] {
        assert!(
            listed.lines().any(|l| l == path),
            "{path} not installed:\n{listed}"
        );
    }
    // The compatibility names are off the system's paths, and each runs the client.
    for name in man::compat_names() {
        for dir in ["usr/bin", "usr/sbin", "bin", "sbin"] {
            assert!(
                !root.join(dir).join(name).exists(),
                "{dir}/{name} installed"
            );
        }
        let link = root.join("usr/lib/outset/compat/bin").join(name);
        let help = run(Command::new(&link).arg("--help"));
        assert!(help.contains("Usage: "), "{name} --help: {help}");
    }
    // Every man page is the generated one, gzipped.
    for page in man::pages() {
        let rel = page.path.strip_prefix("man").unwrap();
        let installed = match rel.strip_prefix("compat") {
            Ok(rest) => root.join("usr/lib/outset/compat/share/man").join(rest),
            Err(_) => root.join("usr/share/man").join(rel),
        };
        let gz = format!("{}.gz", installed.display());
        let text = run(Command::new("gzip").args(["-dc", &gz]));
        assert_eq!(text.as_bytes(), page.bytes, "{gz}");
    }

    // The binaries run from there.
    let help = run(Command::new(root.join("usr/bin/outsetctl")).arg("--help"));
    assert!(help.contains("Usage: outsetctl"), "{help}");
    let version = run(Command::new(root.join("usr/bin/outset")).arg("--version"));
    assert!(version.contains(outset_dist::VERSION), "{version}");

    // And dpkg removes every file again.
    run(&mut dpkg(&["-r", "outset"]));
    assert!(!root.join("usr/bin/outsetctl").exists());
    assert!(!root.join("usr/lib/outset").exists());
    // The package's documentation is the repository's.
    let readme = std::fs::read(workspace_root().join("README.md")).unwrap();
    assert_eq!(
        std::fs::read(unpacked.join("usr/share/doc/outset/README.md")).unwrap(),
        readme
    );
}
