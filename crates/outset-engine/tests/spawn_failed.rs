//! A process the host reported as started that failed before exec (issue 11 item 1: the
//! daemon learns this from the child after the spawn returned). Driven without processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::*;
use outset_job::{ProcessKind, parse_job};
use outset_proto::{Body, Command, Response};

use outset_engine::testing::FakeHost as Host;

fn status(e: &mut Engine, h: &mut Host, job: &str) -> String {
    e.command(
        Command::Status {
            job: job.into(),
            instance: None,
            all: false,
            env: Vec::new(),
        },
        ReplyToken(99),
        h,
    );
    match h.replies.remove(&99) {
        Some(Response::Ok {
            body: Body::Instances(v),
        }) => v.iter().map(|i| i.upstart_line()).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn issue11_late_spawn_failure_fails_the_run_without_status_or_respawn() {
    let mut h = Host::default();
    let mut e = Engine::new(Options {
        base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
        daemon_env: Vec::new(),
        version: "test".into(),
        track_ptrace: false,
        confirm_spawns: false,
        fixed_env_table: false,
    });
    let jobs =
        vec![parse_job("svc", "respawn\nexec /bin/svc\npost-stop exec /bin/after\n").unwrap()];
    e.set_jobs(jobs, &mut h);
    e.command(
        Command::Start {
            job: "svc".into(),
            env: Vec::new(),
            wait: false,
        },
        ReplyToken(1),
        &mut h,
    );
    let main = h.spawned.last().unwrap().2;
    assert!(status(&mut e, &mut h, "svc").contains("start/running"));
    assert!(!e.spawn_failed(1, "no such process", &mut h));
    assert!(e.spawn_failed(main, "process failed at chdir: No such file", &mut h));
    // The exit of that child is the spawn's: no longer the engine's to handle.
    assert!(!e.exited(main, ExitStatus::Exited(127), &mut h));
    let (_, spec, post) = h.spawned.last().unwrap().clone();
    assert_eq!(
        (spec.job.as_str(), spec.kind),
        ("svc", ProcessKind::PostStop)
    );
    let get = |k: &str| {
        spec.env
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("RESULT").as_deref(), Some("failed"));
    assert_eq!(get("PROCESS").as_deref(), Some("main"));
    assert_eq!(get("EXIT_STATUS"), None);
    assert!(e.exited(post, ExitStatus::Exited(0), &mut h));
    assert_eq!(status(&mut e, &mut h, "svc"), "svc stop/waiting");
    // No respawn: the main process was spawned once.
    let mains = h
        .spawned
        .iter()
        .filter(|s| s.1.kind == ProcessKind::Main)
        .count();
    assert_eq!(mains, 1);
}

fn confirming_engine(h: &mut Host, jobs: &[(&str, &str)]) -> Engine {
    let mut e = Engine::new(Options {
        base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
        daemon_env: Vec::new(),
        version: "test".into(),
        track_ptrace: false,
        confirm_spawns: true,
        fixed_env_table: false,
    });
    let jobs = jobs.iter().map(|(n, t)| parse_job(n, t).unwrap()).collect();
    e.set_jobs(jobs, h);
    e
}

fn start(e: &mut Engine, h: &mut Host, job: &str, token: u64) {
    e.command(
        Command::Start {
            job: job.into(),
            env: Vec::new(),
            wait: true,
        },
        ReplyToken(token),
        h,
    );
}

/// Issue 12: a failure inside the child (bad chdir) arrives after the spawn returned; the
/// waiting `start` hears of it ("Job failed to start"), as from Upstart, instead of having
/// been told the job runs.
#[test]
fn issue12_late_child_failure_reaches_the_waiting_start() {
    let mut h = Host::default();
    let mut e = confirming_engine(&mut h, &[("svc", "chdir /no/such\nexec /bin/svc\n")]);
    start(&mut e, &mut h, "svc", 1);
    assert!(
        h.replies.is_empty(),
        "answered before the spawn was confirmed"
    );
    assert!(e.awaits_confirmation());
    let main = h.last_pid();
    assert!(e.spawn_failed(main, "process failed at chdir: No such file", &mut h));
    e.spawns_confirmed(&mut h);
    match h.replies.get(&1) {
        Some(Response::Error { message }) => assert_eq!(message, "Job failed to start: svc"),
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&mut e, &mut h, "svc"), "svc stop/waiting");
    assert!(!e.awaits_confirmation());
}

/// Issue 12: a child that exec'd: the held reply goes out once the batch is confirmed, and
/// replies that do not depend on a spawn (status, a second start) are not held.
#[test]
fn issue12_confirmed_spawn_releases_the_start_reply() {
    let mut h = Host::default();
    let mut e = confirming_engine(
        &mut h,
        &[("svc", "exec /bin/svc\n"), ("t", "task\nexec /bin/t\n")],
    );
    start(&mut e, &mut h, "svc", 1);
    assert!(h.replies.is_empty());
    assert!(status(&mut e, &mut h, "svc").contains("start/running"));
    e.spawns_confirmed(&mut h);
    match h.replies.get(&1) {
        Some(Response::Ok {
            body: Body::Instances(v),
        }) => assert!(v[0].upstart_line().starts_with("svc start/running")),
        other => panic!("{other:?}"),
    }
    // A task is answered when it ends, as before.
    start(&mut e, &mut h, "t", 2);
    let pid = h.last_pid();
    e.spawns_confirmed(&mut h);
    assert!(!h.replies.contains_key(&2));
    assert!(e.exited(pid, ExitStatus::Exited(0), &mut h));
    assert!(matches!(h.replies.get(&2), Some(Response::Ok { .. })));
}
