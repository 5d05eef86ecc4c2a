//! Issue 17 item 4 (the corpus check): every event named in a `start on` or `stop on` of
//! the shared job corpus is one outset emits itself (`builtin_events::EMITTED`: the daemon's
//! and the engine's events, and the socket, file and D-Bus bridges now built in) or one another
//! corpus job emits (`emits` stanzas, `initctl emit` in its scripts). What is left is listed
//! here, so that any change to it shows: those events come from programs outside the
//! corpus (udev, the device bridge not built in yet, `telinit`/rc scripts,
//! ChromiumOS and Ubuntu Touch daemons).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use outset_daemon::builtin_events::EMITTED;
use outset_job::fnmatch::fnmatch;
use outset_job::{Expr, JobConfig, Process, parse_job};
use outset_testkit::corpus::{corpus_dir, job_files};

/// The events the corpus waits for that nothing in outset or the corpus emits (checked
/// against the corpus of 400 files; a change here is a change in what outset provides).
/// Sorted. Device events and `runlevel` are not here only
/// because the corpus holds the bridges' and rc's own job files, whose `emits` stanzas and
/// scripts name them.
const UNEXPLAINED: &[&str] = &[
    // A template placeholder left in a `.conf.in` file.
    "@expected_started_services@",
    // Ubuntu Touch's session and app launcher (ubuntu-app-launch, unity8, url-dispatcher).
    "application-snap-start",
    // ChromiumOS: session_manager, Chrome and ARC send these.
    "arc-booted",
    "ash-initialized",
    "boot-alert-request",
    // The cgroup manager of Ubuntu Touch's LXC container.
    "cgmanager-ready",
    "continue-arc-boot",
    "desktop-end",
    "desktop-start",
    "factory-init-event",
    // Upstart's mountall (a program, not a job) emits the filesystem events.
    "filesystem",
    "load-shill-profile",
    // A misspelling of local-filesystems in cloud-init's jobs.
    "local-filesystem",
    "local-filesystems",
    "login-prompt-visible",
    "mounted",
    "mounting",
    // ifupdown's hook scripts, outside the corpus.
    "net-device-ifup",
    "rotate-logs",
    "shill-disconnected",
    // Jobs that wait for events no Upstart emitted (`start`, `shutdown`).
    "shutdown",
    "start",
    "start-arc-instance",
    "start-user-session",
    "started-user-session",
    "stop-arc-instance",
    "stop-arcvm-instance",
    "stop-postgresql-versions",
    "uinput-added",
    "unity8-greeter-started",
    "unmounting-filesystem",
    "untrusted-helper-start",
    "url-dispatcher-update",
    "virtual-filesystems",
    "x-started",
];

fn names(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            names(a, out);
            names(b, out);
        }
        Expr::Event(m) => {
            out.insert(m.name.clone());
        }
        Expr::Ready(_) => {}
    }
}

/// The events a script emits with `initctl emit [OPTIONS] NAME`.
fn emitted_by_script(text: &str) -> Vec<String> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if !(*w == "initctl" || w.ends_with("/initctl")) || words.get(i + 1) != Some(&"emit") {
            continue;
        }
        if let Some(name) = words[i + 2..].iter().find(|w| !w.starts_with('-')) {
            out.push(name.trim_matches(['"', '\'']).to_string());
        }
    }
    out
}

fn processes(j: &JobConfig) -> Vec<&Process> {
    [
        &j.main,
        &j.pre_start,
        &j.post_start,
        &j.pre_stop,
        &j.post_stop,
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn text(p: &Process) -> &str {
    match p {
        Process::Exec(s) | Process::Script(s) => s,
    }
}

#[test]
fn issue17_item4_corpus_events_are_emitted_by_outset_or_a_job() {
    let Some(root) = corpus_dir() else {
        return;
    };
    let mut jobs = Vec::new();
    for p in job_files(&root) {
        let t = String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned();
        let name = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        jobs.push(parse_job(&name, &t).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    assert_eq!(jobs.len(), 400, "the corpus holds 400 job files");
    // Event name → the jobs that wait for it.
    let mut waited: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut emitted: BTreeSet<String> = BTreeSet::new();
    for j in &jobs {
        let mut n = BTreeSet::new();
        for e in [&j.start_on, &j.stop_on].into_iter().flatten() {
            names(e, &mut n);
        }
        for name in n {
            waited.entry(name).or_default().push(j.name.clone());
        }
        emitted.extend(j.emits.iter().cloned());
        for p in processes(j) {
            emitted.extend(emitted_by_script(text(p)));
        }
    }
    let explained = |name: &str| {
        EMITTED.contains(&name)
            || emitted.iter().any(|e| e == name || fnmatch(e, name))
            // A name made of a variable is whatever the job is given.
            || name.contains('$')
    };
    let rest: BTreeMap<&String, &Vec<String>> =
        waited.iter().filter(|(n, _)| !explained(n)).collect();
    println!(
        "{} events named in start/stop conditions; {} emitted by outset or another job; {} unexplained:",
        waited.len(),
        waited.len() - rest.len(),
        rest.len()
    );
    for (name, by) in &rest {
        println!("  {name}: {}", by.join(", "));
    }
    let got: Vec<&str> = rest.keys().map(|s| s.as_str()).collect();
    assert_eq!(got, UNEXPLAINED, "the unexplained events changed");
}

#[test]
fn issue17_item4_initctl_emit_is_found_in_scripts() {
    assert_eq!(
        emitted_by_script(
            "set -e\n/sbin/initctl emit --no-wait \"net-up\" IFACE=x; initctl emit foo\n"
        ),
        ["net-up", "foo"]
    );
    assert!(emitted_by_script("initctl start foo").is_empty());
}
