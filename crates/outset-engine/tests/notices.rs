//! Issue 16 item 1: what the engine tells a host that publishes D-Bus signals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::testing::FakeHost;
use outset_engine::*;
use outset_proto::Command;

#[path = "support/simple_engine.rs"]
mod simple_engine;
use simple_engine::engine;

fn start(e: &mut Engine, h: &mut FakeHost, job: &str) {
    let cmd = Command::Start {
        job: job.into(),
        env: vec![],
        wait: false,
    };
    let token = ReplyToken(h.replies.len() as u64 + 1);
    e.command(cmd, token, h);
}

fn main_pid(h: &FakeHost) -> u32 {
    h.spawned.last().unwrap().2
}

#[test]
fn issue16_item1_nothing_is_recorded_unless_asked() {
    let (mut e, mut h) = engine(&[("web", "exec sleep 100\n")]);
    start(&mut e, &mut h, "web");
    assert!(e.take_notices().is_empty());
}

#[test]
fn issue16_item1_a_run_is_told_in_upstarts_order() {
    let (mut e, mut h) = engine(&[("web", "exec sleep 100\n")]);
    e.record_notices(true);
    start(&mut e, &mut h, "web");
    let n = e.take_notices();
    let (job, instance) = ("web".to_string(), String::new());
    assert_eq!(
        n[0],
        Notice::InstanceAdded {
            job: job.clone(),
            instance: instance.clone()
        }
    );
    assert_eq!(
        n[1],
        Notice::GoalChanged {
            job: job.clone(),
            instance: instance.clone(),
            goal: "start"
        }
    );
    let states: Vec<&str> = n
        .iter()
        .filter_map(|x| match x {
            Notice::StateChanged { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        ["starting", "pre-start", "spawned", "post-start", "running"]
    );
    let events: Vec<&str> = n
        .iter()
        .filter_map(|x| match x {
            Notice::EventFinished { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(events, ["starting", "started"]);

    // The main process fails: Failed with its exit code, then down and gone.
    e.exited(main_pid(&h), ExitStatus::Exited(3), &mut h);
    let n = e.take_notices();
    assert!(n.contains(&Notice::GoalChanged {
        job: job.clone(),
        instance: instance.clone(),
        goal: "stop"
    }));
    assert!(n.contains(&Notice::Failed {
        job: job.clone(),
        instance: instance.clone(),
        status: 3
    }));
    assert_eq!(
        n.last(),
        Some(&Notice::EventFinished {
            name: "stopped".into(),
            env: vec![
                "JOB=web".into(),
                "INSTANCE=".into(),
                "RESULT=failed".into(),
                "PROCESS=main".into(),
                "EXIT_STATUS=3".into()
            ]
        })
    );
    assert!(n.contains(&Notice::InstanceRemoved { job, instance }));
    // Off again: nothing more is kept.
    e.record_notices(false);
    start(&mut e, &mut h, "web");
    assert!(e.take_notices().is_empty());
}

/// A signal is Upstart's status: the signal number shifted left by 8.
#[test]
fn issue16_item1_a_killed_run_fails_with_the_signal_shifted() {
    let (mut e, mut h) = engine(&[("web", "exec sleep 100\n")]);
    e.record_notices(true);
    start(&mut e, &mut h, "web");
    e.exited(main_pid(&h), ExitStatus::Signaled(9), &mut h);
    assert!(e.take_notices().contains(&Notice::Failed {
        job: "web".into(),
        instance: String::new(),
        status: 9 << 8
    }));
}

/// Issue 18 item 1: an event is noted when it is handled, before what it starts moves;
/// each change of state carries the goal and the main PID when there is one.
#[test]
fn issue18_item1_events_and_states_are_noted_in_order() {
    let (mut e, mut h) = engine(&[("b", "start on a\nexec sleep 100\n")]);
    e.record_notices(true);
    e.command(
        Command::Emit {
            event: "a".into(),
            env: vec!["X=1".into()],
            wait: false,
        },
        ReplyToken(1),
        &mut h,
    );
    let n = e.take_notices();
    let handled = n
        .iter()
        .position(|x| {
            *x == Notice::EventHandled {
                name: "a".into(),
                env: vec!["X=1".into()],
            }
        })
        .unwrap();
    let starting = n
        .iter()
        .position(|x| {
            matches!(
                x,
                Notice::StateChanged {
                    state: "starting",
                    ..
                }
            )
        })
        .unwrap();
    assert!(handled < starting, "{n:?}");
    assert!(n.contains(&Notice::StateChanged {
        job: "b".into(),
        instance: String::new(),
        goal: "start",
        state: "starting",
        pid: None,
    }));
    assert!(n.contains(&Notice::StateChanged {
        job: "b".into(),
        instance: String::new(),
        goal: "start",
        state: "running",
        pid: Some(main_pid(&h)),
    }));
    // Job events are handled events too.
    assert!(n.iter().any(|x| matches!(
        x,
        Notice::EventHandled { name, .. } if name == "started"
    )));
}

/// Issue 18 item 2: an instance's times are the host's wall clock when it was spawned,
/// became ready and last changed state; a snapshot carries them, a new run clears them.
#[test]
fn issue18_item2_instance_times_come_from_the_hosts_wall_clock() {
    let (mut e, mut h) = engine(&[("svc", "expect stop\nexec /bin/svc\n")]);
    let (none, _) = engine(&[("svc", "exec /bin/svc\n")]);
    assert!(none.instance_status("svc", "").is_none());
    e.set_wall_clock(1_700_000_000_000);
    start(&mut e, &mut h, "svc");
    let st = e.instance_status("svc", "").unwrap();
    assert_eq!(st.state, "spawned");
    assert_eq!(st.spawned.as_deref(), Some("2023-11-14T22:13:20.000Z"));
    assert_eq!(st.ready, None);
    assert_eq!(st.changed, st.spawned);
    e.set_wall_clock(1_700_000_000_250);
    e.stopped(main_pid(&h), &mut h);
    let st = e.instance_status("svc", "").unwrap();
    assert_eq!(st.state, "running");
    assert_eq!(st.spawned.as_deref(), Some("2023-11-14T22:13:20.000Z"));
    assert_eq!(st.ready.as_deref(), Some("2023-11-14T22:13:20.250Z"));
    assert_eq!(st.changed, st.ready);
    // Across a re-exec.
    let back = Engine::restore(
        Options {
            base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
            version: "test".into(),
            ..Options::default()
        },
        e.snapshot(),
        0,
    )
    .unwrap();
    assert_eq!(back.instance_status("svc", "").unwrap(), st);
    // A state written before the times were kept reads as none.
    let mut old = serde_json::to_value(e.snapshot()).unwrap();
    for i in old["instances"].as_array_mut().unwrap() {
        i.as_object_mut().unwrap().remove("stamps");
    }
    let old: Snapshot = serde_json::from_value(old).unwrap();
    let back = Engine::restore(Options::default(), old, 0).unwrap();
    let st = back.instance_status("svc", "").unwrap();
    assert_eq!((st.spawned, st.ready, st.changed), (None, None, None));
}

/// Issue 11 item 3 (memory at 5000 jobs): a host's sink gets each notice as it is made, and
/// none piles up in the engine unless recording is on; with both, both get every notice.
#[test]
fn issue11_item3_notice_sink_gets_notices_as_made_without_a_pile() {
    let (mut e, mut h) = engine(&[("b", "start on a\nexec sleep 100\n")]);
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = seen.clone();
    e.notice_sink(Box::new(move |n| sink.borrow_mut().push(n.to_notice())));
    e.command(
        Command::Emit {
            event: "a".into(),
            env: vec![],
            wait: false,
        },
        ReplyToken(1),
        &mut h,
    );
    assert!(
        e.take_notices().is_empty(),
        "nothing kept while not recording"
    );
    let first: Vec<Notice> = seen.borrow_mut().drain(..).collect();
    assert!(first.contains(&Notice::EventHandled {
        name: "a".into(),
        env: vec![],
    }));
    assert!(first.iter().any(|n| matches!(
        n,
        Notice::StateChanged {
            state: "starting",
            ..
        }
    )));
    e.record_notices(true);
    e.command(
        Command::Stop {
            job: "b".into(),
            instance: None,
            env: vec![],
            wait: false,
        },
        ReplyToken(2),
        &mut h,
    );
    assert_eq!(
        e.take_notices(),
        *seen.borrow(),
        "the sink and the record agree"
    );
    assert!(!seen.borrow().is_empty());
}
