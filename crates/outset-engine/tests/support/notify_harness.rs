//! The sd_notify message parser (`Engine::notify`) under arbitrary input, shared by the fuzz
//! target `fuzz/fuzz_targets/notify_message.rs` and the seed replay in the ordinary suite.
//!
//! An `expect notify` job with a watchdog is started against a host that records nothing; the
//! message is delivered from a root sender, then the job is asked for its status, the clock
//! runs past every deadline and the job is stopped. Nothing may panic, and the start is
//! answered exactly when the message holds a `READY=1` line.

use outset_engine::{DEFAULT_PATH, Effects, Engine, InstanceId, Options, ReplyToken, SpawnSpec};
use outset_job::{Signal, parse_job};
use outset_proto::{Command, Response};

#[derive(Default)]
struct Host {
    next_pid: u32,
    spawned: Vec<(InstanceId, u32)>,
    replies: Vec<(u64, Response)>,
}

impl Effects for Host {
    fn spawn(&mut self, inst: InstanceId, _: &SpawnSpec) -> Result<u32, String> {
        self.next_pid += 1;
        let pid = 1000 + self.next_pid;
        self.spawned.push((inst, pid));
        Ok(pid)
    }
    fn signal(&mut self, _: InstanceId, _: u32, _: Signal, _: bool) {}
    fn kill_all(&mut self, _: InstanceId) {}
    fn instance_removed(&mut self, _: InstanceId) {}
    fn processes(&mut self, _: InstanceId) -> Result<Vec<u32>, String> {
        // The spawned main process and one more, so a MAINPID can name a process of the job.
        Ok(vec![1001, 4343])
    }
    fn pid_file(&mut self, _: InstanceId, _: &str) -> Option<u32> {
        None
    }
    fn describe(&mut self, pids: &[u32]) -> Vec<(u32, String)> {
        pids.iter().map(|p| (*p, String::new())).collect()
    }
    fn reply(&mut self, token: ReplyToken, response: Response) {
        self.replies.push((token.0, response));
    }
}

/// Delivers `data` as one notify message; panics if the engine misbehaves.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut e = Engine::new(Options {
        base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
        daemon_env: Vec::new(),
        version: "fuzz".into(),
        track_ptrace: false,
    });
    let mut h = Host::default();
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
    let Some(&(id, _)) = h.spawned.first() else {
        panic!("the job was not spawned");
    };
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
