//! Issue 16 (EmitEventWithFile): an fd sent with an event goes to the runs the event
//! starts while the event lives, and the host is told to close it when the event ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::*;
use outset_job::ProcessKind;
use outset_proto::{Command, Response};

#[path = "support/simple_engine.rs"]
mod simple_engine;
use simple_engine::engine;

fn emit(event: &str, wait: bool) -> Command {
    Command::Emit {
        event: event.into(),
        env: vec!["A=1".into()],
        wait,
    }
}

#[test]
fn issue16_event_fd_goes_to_the_started_runs_and_is_released_when_the_event_ends() {
    let (mut e, mut h) = engine(&[
        (
            "reader",
            "start on my-event\npre-start exec true\nexec cat\n",
        ),
        ("other", "start on other-event\nexec sleep 100\n"),
    ]);
    e.command_with_fd(emit("my-event", true), 7, ReplyToken(1), &mut h);
    // pre-start runs with the fd; the event waits on the job, so the fd is still held.
    let (_, spec, pre) = h.spawned.last().cloned().unwrap();
    assert_eq!(
        (spec.job.as_str(), spec.kind),
        ("reader", ProcessKind::PreStart)
    );
    assert_eq!(spec.event_fd, Some(7));
    assert!(h.released_fds.is_empty());
    e.exited(pre, ExitStatus::Exited(0), &mut h);
    let (_, spec, _) = h.spawned.last().cloned().unwrap();
    assert_eq!(
        (spec.job.as_str(), spec.kind),
        ("reader", ProcessKind::Main)
    );
    assert_eq!(spec.event_fd, Some(7));
    assert_eq!(spec.env.iter().find(|(k, _)| k == "A").unwrap().1, "1");
    // The job runs: the event has finished, answered, and its fd released once.
    assert!(matches!(h.replies.get(&1), Some(Response::Ok { .. })));
    assert_eq!(h.released_fds, vec![7]);
    // A job started by an event without an fd gets none.
    e.command(emit("other-event", false), ReplyToken(2), &mut h);
    let (_, spec, _) = h.spawned.last().cloned().unwrap();
    assert_eq!(spec.job, "other");
    assert_eq!(spec.event_fd, None);
}

#[test]
fn issue16_event_fd_nobody_wants_is_released_when_the_event_ends() {
    let (mut e, mut h) = engine(&[("reader", "start on my-event\nexec cat\n")]);
    e.command_with_fd(emit("no-such-event", false), 3, ReplyToken(1), &mut h);
    assert!(h.spawned.is_empty());
    assert_eq!(h.released_fds, vec![3]);
}

#[test]
fn issue16_refused_emit_or_other_command_releases_its_fd_at_once() {
    let (mut e, mut h) = engine(&[("reader", "start on my-event\nexec cat\n")]);
    let bad = Command::Emit {
        event: "my-event".into(),
        env: vec!["NOT-A-PAIR".into()],
        wait: true,
    };
    e.command_with_fd(bad, 4, ReplyToken(1), &mut h);
    assert!(matches!(h.replies.get(&1), Some(Response::Error { .. })));
    assert_eq!(h.released_fds, vec![4]);
    assert!(h.spawned.is_empty());
    let start = Command::Start {
        job: "reader".into(),
        env: vec![],
        wait: false,
    };
    e.command_with_fd(start, 5, ReplyToken(2), &mut h);
    assert_eq!(h.released_fds, vec![4, 5]);
    assert_eq!(h.spawned.last().unwrap().1.event_fd, None);
}

/// Issue 16: a later run of the same instance, started by a command, does not inherit the
/// fd of the event that started an earlier run.
#[test]
fn issue16_a_later_run_does_not_keep_an_earlier_events_fd() {
    let (mut e, mut h) = engine(&[(
        "reader",
        "start on my-event\npre-start exec true\nexec cat\n",
    )]);
    e.command_with_fd(emit("my-event", false), 9, ReplyToken(1), &mut h);
    let (_, spec, pre) = h.spawned.last().cloned().unwrap();
    assert_eq!(spec.event_fd, Some(9));
    // Stopped during pre-start, then started again by hand while the event still waits.
    let stop = Command::Stop {
        job: "reader".into(),
        instance: None,
        env: vec![],
        wait: false,
    };
    e.command(stop, ReplyToken(2), &mut h);
    let start = Command::Start {
        job: "reader".into(),
        env: vec![],
        wait: false,
    };
    e.command(start, ReplyToken(3), &mut h);
    e.exited(pre, ExitStatus::Exited(0), &mut h);
    let later: Vec<_> = h
        .spawned
        .iter()
        .filter(|(_, s, pid)| *pid != pre && s.job == "reader")
        .map(|(_, s, _)| s.event_fd)
        .collect();
    assert!(!later.is_empty());
    assert!(later.iter().all(Option::is_none), "{later:?}");
}
