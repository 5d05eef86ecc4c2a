//! outset's distribution files, made from the code: man pages and shell completions from the
//! clap definitions and the parser's stanza list (committed under `dist/`, where a test
//! keeps them equal to what this generates), and the Debian package.
//!
//! `cargo run -p outset-dist -- generate` rewrites `dist/`; `cargo run -p outset-dist -- deb`
//! builds the package (docs/packaging.md).

pub mod completions;
pub mod deb;
pub mod job_page;
pub mod man;
mod roff;

use std::path::{Path, PathBuf};

use anyhow::Context;

/// One generated file: its path under `dist/` and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// The folders under `dist/` that hold only generated files.
pub const GENERATED_DIRS: [&str; 2] = ["man", "completions"];

/// The command to run when the committed files differ from the code.
pub const REGENERATE: &str = "cargo run -p outset-dist -- generate";

/// The version every page and the package carry (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The repository's root (this crate is `crates/outset-dist`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// Every generated file: the man pages, then the completions.
pub fn generated() -> Vec<GenFile> {
    let mut files = man::pages();
    files.extend(completions::scripts());
    files
}

/// The files now under the generated folders of `dist`, relative to it, sorted.
fn present(dist: &Path) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, base, out)?;
            } else if let Ok(rel) = path.strip_prefix(base) {
                out.push(rel.to_path_buf());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for d in GENERATED_DIRS {
        let dir = dist.join(d);
        if dir.is_dir() {
            walk(&dir, dist, &mut out).with_context(|| format!("reading {}", dir.display()))?;
        }
    }
    out.sort();
    Ok(out)
}

/// Writes every generated file under `dist` and removes files there that are no longer
/// generated (a verb that went away).
pub fn write_all(dist: &Path) -> anyhow::Result<()> {
    let files = generated();
    for old in present(dist)? {
        if !files.iter().any(|f| f.path == old) {
            std::fs::remove_file(dist.join(&old))
                .with_context(|| format!("removing {}", old.display()))?;
        }
    }
    for f in &files {
        let path = dist.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &f.bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// What differs between `dist` and the generated files: one line per file missing,
/// different or left over. Empty when they are equal byte for byte.
pub fn differences(dist: &Path) -> anyhow::Result<Vec<String>> {
    let files = generated();
    let mut out = Vec::new();
    for f in &files {
        match std::fs::read(dist.join(&f.path)) {
            Ok(bytes) if bytes == f.bytes => {}
            Ok(_) => out.push(format!("differs: dist/{}", f.path.display())),
            Err(_) => out.push(format!("missing: dist/{}", f.path.display())),
        }
    }
    for old in present(dist)? {
        if !files.iter().any(|f| f.path == old) {
            out.push(format!("not generated any more: dist/{}", old.display()));
        }
    }
    Ok(out)
}
