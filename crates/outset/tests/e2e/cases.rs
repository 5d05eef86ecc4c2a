//! The case folders in `crates/outset/tests/cases/`: each holds job files, the `outsetctl`
//! commands to run and the transcript they must print (layout in `tests/cases/README.md`).
//! One runner reads them all, so a new case is new files, not new Rust.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::*;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// One folder of `tests/cases/`.
struct Case {
    name: String,
    dir: PathBuf,
    /// `outsetctl` argument lists, one per line of `commands`.
    commands: Vec<Vec<String>>,
    /// The daemon's extra flags, when the case has a `daemon` file; offline otherwise.
    daemon: Option<Vec<String>>,
    expected: String,
}

fn read_case(dir: &Path) -> Result<Case, String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file)).map_err(|e| format!("{name}/{file}: {e}"))
    };
    let commands: Vec<Vec<String>> = read("commands")?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    if commands.is_empty() {
        return Err(format!("{name}/commands: no command"));
    }
    let daemon = dir
        .join("daemon")
        .exists()
        .then(|| read("daemon"))
        .transpose()?
        .map(|flags| flags.split_whitespace().map(String::from).collect());
    // A missing transcript is an empty one, so that a new case can be blessed.
    let expected = read("expected.txt").unwrap_or_default();
    Ok(Case {
        name,
        dir: dir.to_path_buf(),
        commands,
        daemon,
        expected,
    })
}

/// Rewrites what differs from run to run: the daemon's temp dir becomes `$TMP`, and each
/// `process N` becomes `process <pidK>`, K counting distinct PIDs in order of appearance, so
/// that the transcript still says which PIDs are the same.
struct Normaliser {
    tmp: Option<String>,
    pids: HashMap<String, usize>,
}

impl Normaliser {
    fn text(&mut self, s: &str) -> String {
        let s = match &self.tmp {
            Some(tmp) => s.replace(tmp.as_str(), "$TMP"),
            None => s.to_string(),
        };
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(i) = rest.find("process ") {
            out.push_str(&rest[..i + 8]);
            rest = &rest[i + 8..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 {
                let next = self.pids.len() + 1;
                let k = *self.pids.entry(rest[..digits].to_string()).or_insert(next);
                out.push_str(&format!("<pid{k}>"));
                rest = &rest[digits..];
            }
        }
        out.push_str(rest);
        out
    }

    /// The PIDs seen so far.
    fn seen(&self) -> Vec<u32> {
        self.pids.keys().filter_map(|p| p.parse().ok()).collect()
    }
}

/// One command's block of the transcript: `$ ARGS`, stdout, stderr lines prefixed `! `, and
/// `[exit N]` when the status is not 0.
fn block(args: &[String], out: &Output, norm: &mut Normaliser) -> String {
    let mut t = format!("$ {}\n", args.join(" "));
    let stdout = norm.text(&String::from_utf8_lossy(&out.stdout));
    t.push_str(&stdout);
    if !stdout.is_empty() && !stdout.ends_with('\n') {
        t.push('\n');
    }
    for line in norm.text(&String::from_utf8_lossy(&out.stderr)).lines() {
        t.push_str(&format!("! {line}\n"));
    }
    match out.status.code() {
        Some(0) => {}
        Some(code) => t.push_str(&format!("[exit {code}]\n")),
        None => t.push_str(&format!("[{}]\n", out.status)),
    }
    t
}

fn outsetctl(cwd: &Path, socket: &Path, args: &[String]) -> Output {
    Command::new(OUTSETCTL)
        .current_dir(cwd)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("UPSTART_JOB")
        .env_remove("UPSTART_INSTANCE")
        .env_remove("OUTSET_SOCKET")
        .output()
        .unwrap()
}

/// An offline case: the commands run in the case folder (so `init/x.conf` names its files)
/// with a socket no daemon listens on.
fn run_offline(case: &Case) -> String {
    let none = tempfile::tempdir().unwrap();
    let socket = none.path().join("no-daemon.sock");
    let mut norm = Normaliser {
        tmp: None,
        pids: HashMap::new(),
    };
    case.commands
        .iter()
        .map(|args| block(args, &outsetctl(&case.dir, &socket, args), &mut norm))
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A daemon case: a `--user` daemon with the `daemon` file's flags on a copy of `init/`;
/// the commands run in its temp dir. Every case ends with nothing running: each PID its
/// transcript named is gone, and the job cgroups empty.
fn run_with_daemon(case: &Case, mount: &Path, flags: &[String]) -> Result<String, String> {
    let mut d = TestDaemon::new(mount);
    let init = case.dir.join("init");
    if init.is_dir() {
        copy_tree(&init, &d.confdir);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    d.start(&flags);
    let mut norm = Normaliser {
        tmp: Some(d.dir.path().display().to_string()),
        pids: HashMap::new(),
    };
    let transcript: String = case
        .commands
        .iter()
        .map(|args| block(args, &outsetctl(d.dir.path(), &d.socket, args), &mut norm))
        .collect();
    let alive: Vec<u32> = norm.seen().into_iter().filter(|p| pid_alive(*p)).collect();
    if !alive.is_empty() {
        return Err(format!("still running after the last command: {alive:?}"));
    }
    d.wait_for("the job cgroups to empty", Duration::from_secs(10), || {
        d.cgroup_pids().is_empty()
    });
    Ok(transcript)
}

/// Every folder of `tests/cases/` gives the transcript in its `expected.txt`. With
/// `OUTSET_BLESS=1` the transcripts are written instead, and the test fails so that they
/// are read before they are committed.
#[test]
fn every_case_folder_prints_its_expected_transcript() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no case in {}", cases_dir().display());
    let bless = std::env::var("OUTSET_BLESS").as_deref() == Ok("1");
    let mut mount = None;
    let (mut failures, mut ran, mut blessed) = (Vec::new(), 0, 0);
    for dir in &dirs {
        let case = match read_case(dir) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let got = match &case.daemon {
            None => Ok(run_offline(&case)),
            Some(flags) => {
                if mount.is_none() {
                    mount = require_root_cgroup2();
                }
                let Some(m) = &mount else {
                    eprintln!("SKIP: case {} needs a daemon", case.name);
                    continue;
                };
                run_with_daemon(&case, m, flags)
            }
        };
        ran += 1;
        match got {
            Err(e) => failures.push(format!("case {}: {e}", case.name)),
            Ok(got) if got == case.expected => {}
            Ok(got) if bless => {
                std::fs::write(case.dir.join("expected.txt"), got).unwrap();
                blessed += 1;
            }
            Ok(got) => failures.push(format!(
                "case {}: transcript differs\n--- expected\n{}--- got\n{got}",
                case.name, case.expected
            )),
        }
    }
    eprintln!("{ran} of {} cases ran", dirs.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        blessed, 0,
        "wrote {blessed} expected.txt; read them, then run again"
    );
}
