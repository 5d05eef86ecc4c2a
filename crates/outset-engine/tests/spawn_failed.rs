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
