//! Issue 14: what the engine says of `console log` output: `status` names each instance's
//! file, the spawn carries the job's `log rotate`. Driven without processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::*;
use outset_job::{LogRotate, parse_job};
use outset_proto::{Body, Command, InstanceStatus, Response};

use outset_engine::testing::FakeHost as Host;

fn engine() -> Engine {
    Engine::new(Options {
        base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
        daemon_env: Vec::new(),
        version: "test".into(),
        track_ptrace: false,
        confirm_spawns: false,
        fixed_env_table: false,
    })
}

fn status(e: &mut Engine, h: &mut Host, job: &str) -> Vec<InstanceStatus> {
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
        }) => v,
        other => panic!("{other:?}"),
    }
}

fn start(e: &mut Engine, h: &mut Host, job: &str, env: &[&str]) {
    h.replies.remove(&1);
    e.command(
        Command::Start {
            job: job.into(),
            env: env.iter().map(|s| s.to_string()).collect(),
            wait: false,
        },
        ReplyToken(1),
        h,
    );
}

/// Issue 14 item 5: `status` names the log file of a `console log` instance (Upstart's
/// name mapping), also before the job runs; none for other consoles or without a log
/// directory (`--no-log`).
#[test]
fn issue14_item5_status_names_the_log_file() {
    let mut h = Host::default();
    let mut e = engine();
    e.set_jobs(
        vec![
            parse_job("a/b", "instance $N\nexec /bin/x\n").unwrap(),
            parse_job("quiet", "console none\nexec /bin/x\n").unwrap(),
            parse_job("single", "exec /bin/x\n").unwrap(),
        ],
        &mut h,
    );
    assert_eq!(status(&mut e, &mut h, "single")[0].log, None);
    e.set_log_dir(Some("/var/log/outset/".into()));
    assert_eq!(
        status(&mut e, &mut h, "single")[0].log.as_deref(),
        Some("/var/log/outset/single.log")
    );
    start(&mut e, &mut h, "a/b", &["N=x/y"]);
    assert_eq!(
        status(&mut e, &mut h, "a/b")[0].log.as_deref(),
        Some("/var/log/outset/a_b-x_y.log")
    );
    start(&mut e, &mut h, "quiet", &[]);
    assert_eq!(status(&mut e, &mut h, "quiet")[0].log, None);
    e.set_log_dir(None);
    assert_eq!(status(&mut e, &mut h, "a/b")[0].log, None);
}

/// Issue 14 item 3: a job's `log rotate` reaches the host with each spawn.
#[test]
fn issue14_item3_spawn_carries_log_rotate() {
    let mut h = Host::default();
    let mut e = engine();
    e.set_jobs(
        vec![
            parse_job("r", "log rotate 1M 3\nexec /bin/x\n").unwrap(),
            parse_job("d", "exec /bin/x\n").unwrap(),
        ],
        &mut h,
    );
    start(&mut e, &mut h, "r", &[]);
    start(&mut e, &mut h, "d", &[]);
    let rotate = |job: &str| {
        h.spawned
            .iter()
            .find(|s| s.1.job == job)
            .map(|s| s.1.log_rotate)
            .unwrap()
    };
    assert_eq!(
        rotate("r"),
        Some(LogRotate {
            max_size: 1 << 20,
            keep: 3
        })
    );
    assert_eq!(rotate("d"), None);
}
