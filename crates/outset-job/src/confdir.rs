//! Conf dirs: which files are jobs, what they are called, and how overrides apply.
//!
//! A job is a `.conf` file anywhere under a conf dir; its name is the path relative to the dir
//! minus `.conf` (`net/apache.conf` → `net/apache`). A `.override` beside it is parsed over
//! it; an override alone is ignored, an invalid one is reported and the `.conf` used alone.
//! This module reads files but makes no other system calls.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Diagnostic, ParseError};
use crate::model::{Console, JobConfig};
use crate::parse::parse_into;

/// A job read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedJob {
    pub name: String,
    pub path: PathBuf,
    /// The override that was applied, if any.
    pub override_path: Option<PathBuf>,
    pub config: JobConfig,
}

/// What a load found: the jobs that parsed and an error per file that did not.
#[derive(Debug, Default, Clone)]
pub struct LoadResult {
    pub jobs: Vec<LoadedJob>,
    pub errors: Vec<Diagnostic>,
}

/// The job name for a path relative to its conf dir, if it is a `.conf` file.
pub fn job_name(rel: &Path) -> Option<String> {
    let s = rel.to_str()?;
    let name = s.strip_suffix(".conf")?;
    (!name.is_empty() && !name.ends_with('/')).then(|| name.to_string())
}

fn read(path: &Path) -> Result<String, Diagnostic> {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| Diagnostic {
            path: path.to_path_buf(),
            error: ParseError::new(1, 1, format!("cannot read the file: {e}")),
        })
}

/// The `.override` path for a `.conf` path (or for any job file: its extension replaced).
pub fn override_path(conf: &Path) -> PathBuf {
    match conf.to_str().and_then(|s| s.strip_suffix(".conf")) {
        Some(stem) => PathBuf::from(format!("{stem}.override")),
        None => conf.with_extension("override"),
    }
}

/// Parses `override_text` over `job`; on error returns the job unchanged and the error.
pub fn apply_override(job: JobConfig, text: &str) -> (JobConfig, Option<ParseError>) {
    let mut updated = job.clone();
    match parse_into(&mut updated, text) {
        Ok(()) => (updated, None),
        Err(e) => (job, Some(e)),
    }
}

/// Loads one job file named `name`, with the override beside it when there is one.
pub fn load_file(path: &Path, name: &str) -> (Option<LoadedJob>, Vec<Diagnostic>) {
    load_file_with(path, name, Console::Log)
}

/// As [`load_file`], with `console` for a job that has no `console` stanza (the daemon's
/// `--default-console`).
pub fn load_file_with(
    path: &Path,
    name: &str,
    console: Console,
) -> (Option<LoadedJob>, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    let text = match read(path) {
        Ok(t) => t,
        Err(d) => return (None, vec![d]),
    };
    let mut config = JobConfig::new(name);
    config.console = console;
    let mut config = match parse_into(&mut config, &text).map(|()| config) {
        Ok(c) => c,
        Err(error) => {
            let d = Diagnostic {
                path: path.to_path_buf(),
                error,
            };
            return (None, vec![d]);
        }
    };
    let ov = override_path(path);
    let mut applied = None;
    if ov.is_file() {
        match read(&ov) {
            Ok(text) => {
                let (c, e) = apply_override(config, &text);
                config = c;
                match e {
                    Some(error) => errors.push(Diagnostic {
                        path: ov.clone(),
                        error,
                    }),
                    None => applied = Some(ov),
                }
            }
            Err(d) => errors.push(d),
        }
    }
    let job = LoadedJob {
        name: name.to_string(),
        path: path.to_path_buf(),
        override_path: applied,
        config,
    };
    (Some(job), errors)
}

/// Every `.conf` file under `dir`, recursively, by job name. Symlinked directories are not
/// followed, so a loop cannot trap the walk.
pub fn conf_files(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(root, &path, out);
        } else if path.is_file()
            && let Some(name) = path.strip_prefix(root).ok().and_then(job_name)
        {
            out.insert(name, path);
        }
    }
}

/// Loads a conf dir.
pub fn load_dir(dir: &Path) -> LoadResult {
    load_dirs(&[dir.to_path_buf()])
}

/// Loads several conf dirs; the first dir that holds a name owns it, even when its file is
/// broken (a broken file hides the job rather than resurrecting another definition).
pub fn load_dirs(dirs: &[PathBuf]) -> LoadResult {
    load_dirs_with(dirs, Console::Log)
}

/// As [`load_dirs`], with `console` for jobs that have no `console` stanza.
pub fn load_dirs_with(dirs: &[PathBuf], console: Console) -> LoadResult {
    let mut seen = std::collections::BTreeSet::new();
    let mut result = LoadResult::default();
    for dir in dirs {
        for (name, path) in conf_files(dir) {
            if !seen.insert(name.clone()) {
                continue;
            }
            let (job, errors) = load_file_with(&path, &name, console);
            result.jobs.extend(job);
            result.errors.extend(errors);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_job;

    #[test]
    fn names() {
        assert_eq!(job_name(Path::new("a/b.conf")).as_deref(), Some("a/b"));
        assert_eq!(job_name(Path::new("x.override")), None);
        assert_eq!(job_name(Path::new(".conf")), None);
    }

    #[test]
    fn overrides_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::create_dir(p.join("net")).unwrap();
        fs::write(p.join("net/web.conf"), "start on startup\nexec /bin/web\n").unwrap();
        fs::write(p.join("net/web.override"), "manual\n").unwrap();
        fs::write(p.join("empty.conf"), "exec /bin/e\n").unwrap();
        fs::write(p.join("empty.override"), "").unwrap();
        fs::write(p.join("bad-ov.conf"), "exec /bin/b\n").unwrap();
        fs::write(p.join("bad-ov.override"), "exec /bin/c\nbogus\n").unwrap();
        fs::write(p.join("alone.override"), "manual\n").unwrap();
        fs::write(p.join("broken.conf"), "exec /bin/x\nexpect sometimes\n").unwrap();
        let r = load_dir(p);
        let names: Vec<&str> = r.jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["bad-ov", "empty", "net/web"]);
        let web = &r.jobs[2].config;
        assert!(web.manual && web.start_on.is_none());
        assert_eq!(r.jobs[1].config, parse_job("empty", "exec /bin/e").unwrap());
        assert_eq!(
            r.jobs[0].config.main,
            Some(crate::model::Process::Exec("/bin/b".into()))
        );
        let errs: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].ends_with("bad-ov.override:2:1: unknown stanza `bogus`"));
        assert!(errs[1].contains("broken.conf:2:8: unknown expect value `sometimes`"));
    }

    #[test]
    fn first_dir_owns_a_name() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::write(a.path().join("j.conf"), "exec /bin/a\n").unwrap();
        fs::write(b.path().join("j.conf"), "exec /bin/b\n").unwrap();
        fs::write(b.path().join("k.conf"), "exec /bin/k\n").unwrap();
        let r = load_dirs(&[a.path().into(), b.path().into()]);
        assert_eq!(r.jobs.len(), 2);
        assert_eq!(
            r.jobs[0].config.main,
            Some(crate::model::Process::Exec("/bin/a".into()))
        );
    }
}
