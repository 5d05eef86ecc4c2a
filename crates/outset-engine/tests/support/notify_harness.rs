//! The sd_notify message parser (`Engine::notify`) under arbitrary input, shared by the fuzz
//! target `fuzz/fuzz_targets/notify_message.rs` and the seed replay in the ordinary suite.
//!
//! An `expect notify` job with a watchdog is started against a host that records nothing; the
//! message is delivered from a root sender, then the job is asked for its status, the clock
//! runs past every deadline and the job is stopped. Nothing may panic, and the start is
//! answered exactly when the message holds a `READY=1` line.

use outset_engine::testing::FakeHost;
use outset_engine::{DEFAULT_PATH, Engine, Options, ReplyToken};
use outset_job::parse_job;
use outset_proto::Command;

/// Delivers `data` as one notify message; panics if the engine misbehaves.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut e = Engine::new(Options {
        base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
        daemon_env: Vec::new(),
        version: "fuzz".into(),
        track_ptrace: false,
        confirm_spawns: false,
        fixed_env_table: false,
    });
    let mut h = FakeHost::default();
    let job = match parse_job(
        "n",
        "expect notify\nstart timeout 5\nwatchdog 2\nexec /bin/n\n",
    ) {
        Ok(j) => j,
        Err(err) => panic!("harness job: {err}"),
    };
    e.set_now(0);
    e.set_jobs(vec![job], &mut h);
    e.command(
        Command::Start {
            job: "n".into(),
            env: Vec::new(),
            wait: true,
        },
        ReplyToken(1),
        &mut h,
    );
    let Some(&(id, _, main)) = h.spawned.first() else {
        panic!("the job was not spawned");
    };
    // The spawned main process and one more, so a MAINPID can name a process of the job.
    h.procs.insert(id, vec![main, 4343]);
    assert!(h.replies.is_empty(), "answered before any message");
    e.notify(id, 0, &text, &mut h);
    let ready = text.lines().any(|l| l == "READY=1");
    let answered = h.replies.iter().any(|(t, _)| *t == 1);
    assert_eq!(
        answered, ready,
        "start answered: {answered}, READY=1 sent: {ready}"
    );
    e.command(
        Command::Status {
            job: "n".into(),
            instance: None,
            env: Vec::new(),
            all: true,
        },
        ReplyToken(2),
        &mut h,
    );
    assert!(h.replies.iter().any(|(t, _)| *t == 2), "status unanswered");
    // Past the start timeout, the watchdog and any extended deadline.
    for now in [1_000, 10_000, 100_000, u64::MAX / 2] {
        e.set_now(now);
        e.tick(&mut h);
    }
    e.stop_all(&mut h);
}
