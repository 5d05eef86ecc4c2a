//! The Debian package, with nothing but dpkg's own tools: the binaries (without debug info)
//! in /usr/bin, the compatibility links in /usr/lib/outset/compat/bin (off PATH: the system's
//! own `shutdown`, `reboot`, … stay), gzipped man pages, completions, docs and example jobs,
//! and a control file whose Depends come from `dpkg-shlibdeps` and whose Installed-Size is
//! counted as dpkg counts it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::{VERSION, completions, man, workspace_root};

/// What to package.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cargo profile (`release`, `dev`, or a custom one).
    pub profile: String,
    /// Build the binaries first (`cargo build --profile …`).
    pub build: bool,
    /// Where the built binaries are, when not the profile's folder of the target dir.
    pub bin_dir: Option<PathBuf>,
    /// Where the package goes (default: target/debian).
    pub out_dir: Option<PathBuf>,
}

/// The binaries the package installs in /usr/bin.
pub const BINARIES: [&str; 2] = ["outset", "outsetctl"];

/// Where the compatibility links and their man pages go.
pub const COMPAT_DIR: &str = "usr/lib/outset/compat";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The folder cargo puts a profile's binaries in (`dev` is `debug`).
pub fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        p => p,
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds the package; returns its path.
pub fn build(opts: &Options) -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    if opts.build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args([
                "build",
                "--locked",
                "--profile",
                &opts.profile,
                "-p",
                "outset",
            ])
            .stdout(Stdio::null());
        for b in BINARIES {
            cmd.args(["--bin", b]);
        }
        run(&mut cmd)?;
    }
    let bin_dir = opts
        .bin_dir
        .clone()
        .unwrap_or_else(|| target_dir().join(profile_dir(&opts.profile)));
    let out_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| target_dir().join("debian"));
    // dpkg-shlibdeps expects a source tree: debian/control, and the package's files in
    // debian/PACKAGE.
    let work = out_dir.join("build");
    let stage = work.join("debian/outset");
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    }
    assemble(&root, &bin_dir, &stage)?;

    let arch = run(Command::new("dpkg").arg("--print-architecture"))?;
    // DEBIAN first: dpkg-shlibdeps finds the package's root by it.
    let debian = stage.join("DEBIAN");
    mkdirs(&debian)?;
    let depends = shlib_depends(&work)?;
    let control = control(&arch, &depends, installed_size(&stage)?);
    write(&debian.join("control"), control.as_bytes(), 0o644)?;

    let deb = out_dir.join(format!("outset_{VERSION}_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&stage)
        .arg(&deb)
        .stdout(Stdio::null()))
    .context("dpkg-deb (Debian's dpkg package) is needed")?;
    Ok(deb)
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        mkdirs(parent)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Creates `dir` and its parents with mode 0755, whatever the umask.
fn mkdirs(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        mkdirs(parent)?;
    }
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// `gzip -9n`: no name or time stamp inside, so the package is the same each time.
fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new("gzip")
        .arg("-9n")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running gzip")?;
    let mut stdin = child.stdin.take().context("gzip's stdin")?;
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().context("gzip")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writing to gzip"))??;
    if !out.status.success() {
        bail!("gzip failed: {}", out.status);
    }
    Ok(out.stdout)
}

/// Lays out the package's files under `stage`.
fn assemble(root: &Path, bin_dir: &Path, stage: &Path) -> anyhow::Result<()> {
    mkdirs(stage)?;
    for b in BINARIES {
        let from = bin_dir.join(b);
        let bytes = std::fs::read(&from).with_context(|| {
            format!(
                "reading {} (build it, or leave out --no-build)",
                from.display()
            )
        })?;
        let dest = stage.join("usr/bin").join(b);
        write(&dest, &bytes, 0o755)?;
        // As Debian packages ship binaries: without debug info (symbols stay, for
        // backtraces). binutils comes with the C toolchain rustc links with.
        run(Command::new("strip").arg("--strip-debug").arg(&dest))
            .context("strip (Debian's binutils package) is needed")?;
    }
    let compat_bin = stage.join(COMPAT_DIR).join("bin");
    mkdirs(&compat_bin)?;
    for name in man::compat_names() {
        std::os::unix::fs::symlink("../../../../bin/outsetctl", compat_bin.join(name))
            .with_context(|| format!("linking {name}"))?;
    }

    for page in man::pages() {
        let rel = page.path.strip_prefix("man").unwrap_or(&page.path);
        let dest = match rel.strip_prefix("compat") {
            // man-db finds pages in ../share/man of a PATH entry: with the compat bin dir
            // first in PATH, `man shutdown` shows outset's.
            Ok(rest) => stage.join(COMPAT_DIR).join("share/man").join(rest),
            Err(_) => stage.join("usr/share/man").join(rel),
        };
        let name = format!(
            "{}.gz",
            dest.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        write(&dest.with_file_name(name), &gzip(&page.bytes)?, 0o644)?;
    }

    for script in completions::scripts() {
        let rel = script
            .path
            .strip_prefix("completions")
            .unwrap_or(&script.path);
        let (shell, file) = match (rel.parent(), rel.file_name()) {
            (Some(s), Some(f)) => (s.to_string_lossy().into_owned(), f.to_owned()),
            _ => continue,
        };
        let dir = match shell.as_str() {
            "bash" => "usr/share/bash-completion/completions",
            "zsh" => "usr/share/zsh/vendor-completions",
            _ => "usr/share/fish/vendor_completions.d",
        };
        write(&stage.join(dir).join(file), &script.bytes, 0o644)?;
    }

    let doc = stage.join("usr/share/doc/outset");
    write(&doc.join("copyright"), copyright(root)?.as_bytes(), 0o644)?;
    let readme = std::fs::read(root.join("README.md")).context("reading README.md")?;
    write(&doc.join("README.md"), &readme, 0o644)?;
    copy_files(&root.join("docs"), "md", &doc)?;
    copy_files(&root.join("examples"), "conf", &doc.join("examples"))?;
    Ok(())
}

/// Copies the files of `from` ending in `.ext` (not its subfolders) into `to`.
fn copy_files(from: &Path, ext: &str, to: &Path) -> anyhow::Result<()> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(from)
        .with_context(|| format!("reading {}", from.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    names.sort();
    for path in names {
        if let Some(name) = path.file_name() {
            let bytes = std::fs::read(&path)?;
            write(&to.join(name), &bytes, 0o644)?;
        }
    }
    Ok(())
}

/// debian/copyright in the machine-readable format, with both licences.
fn copyright(root: &Path) -> anyhow::Result<String> {
    let mit = std::fs::read_to_string(root.join("LICENSE-MIT")).context("reading LICENSE-MIT")?;
    // The MIT text without its title and copyright line, indented as the format wants.
    let body: Vec<String> = mit
        .lines()
        .skip_while(|l| !l.starts_with("Permission"))
        .map(|l| {
            if l.is_empty() {
                " .".into()
            } else {
                format!(" {l}")
            }
        })
        .collect();
    Ok(format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: outset\n\n\
         Files: *\n\
         Copyright: 2026 outset contributors\n\
         License: MIT or Apache-2.0\n\n\
         License: MIT\n{}\n\n\
         License: Apache-2.0\n \
         On Debian systems, the full text of the Apache License, Version 2.0 is in\n \
         /usr/share/common-licenses/Apache-2.0.\n",
        body.join("\n")
    ))
}

/// The shared-library dependencies of the binaries, as dpkg-shlibdeps reads them from the
/// ELF files and the system's symbols files (`libc6 (>= 2.34), libgcc-s1 (>= 4.2)`).
fn shlib_depends(work: &Path) -> anyhow::Result<String> {
    write(
        &work.join("debian/control"),
        b"Source: outset\n\nPackage: outset\nArchitecture: any\n",
        0o644,
    )?;
    let mut cmd = Command::new("dpkg-shlibdeps");
    cmd.current_dir(work).arg("-O");
    for b in BINARIES {
        // Relative to the source tree, where dpkg-shlibdeps expects the package's files.
        cmd.arg(format!("-edebian/outset/usr/bin/{b}"));
    }
    let out = run(&mut cmd).context("dpkg-shlibdeps (Debian's dpkg-dev package) is needed")?;
    let depends = out
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .map(str::to_string);
    match depends {
        Some(d) if !d.is_empty() => Ok(d),
        _ => bail!("dpkg-shlibdeps found no dependencies: {out}"),
    }
}

/// Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, one per directory
/// and symlink.
pub fn installed_size(stage: &Path) -> anyhow::Result<u64> {
    fn walk(dir: &Path, total: &mut u64) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name() == "DEBIAN" {
                continue;
            }
            let meta = std::fs::symlink_metadata(entry.path())?;
            if meta.is_dir() {
                *total += 1;
                walk(&entry.path(), total)?;
            } else if meta.is_file() {
                *total += meta.len().div_ceil(1024);
            } else {
                *total += 1;
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(stage, &mut total).with_context(|| format!("sizing {}", stage.display()))?;
    Ok(total)
}

fn control(arch: &str, depends: &str, size: u64) -> String {
    format!(
        "Package: outset\n\
         Version: {VERSION}\n\
         Architecture: {arch}\n\
         Maintainer: outset contributors <outset@users.noreply.invalid>\n\
         Installed-Size: {size}\n\
         Depends: {depends}\n\
         Section: admin\n\
         Priority: optional\n\
         Description: event-driven init system and service supervisor for Upstart jobs\n \
         outset runs Upstart job files (/etc/init/*.conf) unchanged, speaks Upstart's\n \
         events, initctl verbs and D-Bus API, and tracks every job instance in its own\n \
         cgroup v2. This package installs the daemon (outset) and the client\n \
         (outsetctl), their man pages and shell completions. The initctl, start, stop,\n \
         shutdown, reboot, ... names are links in /usr/lib/outset/compat/bin, off PATH,\n \
         so the system's own tools stay in place.\n"
    )
}
