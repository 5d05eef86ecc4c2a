//! Issue 17 item 6: `respawn delay SECONDS [max SECONDS]`, the pause before each respawn,
//! doubled up to `max`, as an engine timer (no processes, no sleeping).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::testing::FakeHost as Host;
use outset_engine::*;
use outset_job::{ProcessKind::Main, parse_job};
use outset_proto::{Body, Command, Response};

struct T {
    e: Engine,
    h: Host,
    token: u64,
    now: u64,
}

impl T {
    fn new(text: &str) -> T {
        let mut e = Engine::new(Options {
            base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
            ..Options::default()
        });
        let mut h = Host::default();
        e.set_jobs(vec![parse_job("r", text).unwrap()], &mut h);
        T {
            e,
            h,
            token: 0,
            now: 0,
        }
    }

    fn cmd(&mut self, c: Command) -> u64 {
        self.token += 1;
        self.e.command(c, ReplyToken(self.token), &mut self.h);
        self.token
    }

    fn start(&mut self) {
        self.cmd(Command::Start {
            job: "r".into(),
            env: vec![],
            wait: false,
        });
    }

    fn spawns(&self) -> usize {
        self.h
            .spawned
            .iter()
            .filter(|(_, s, _)| s.kind == Main)
            .count()
    }

    /// The latest main process exits with 1.
    fn fail(&mut self) {
        let pid = self
            .h
            .spawned
            .iter()
            .rev()
            .find(|(_, s, _)| s.kind == Main)
            .map(|x| x.2)
            .unwrap();
        assert!(self.e.exited(pid, ExitStatus::Exited(1), &mut self.h));
    }

    /// Moves the clock on by `ms`, firing what is due on the way (as the loop would).
    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while let Some(d) = self.e.next_deadline().filter(|d| *d <= end) {
            self.now = d.max(self.now);
            self.e.set_now(self.now);
            self.e.tick(&mut self.h);
        }
        self.now = end;
        self.e.set_now(self.now);
        self.e.tick(&mut self.h);
    }

    fn status(&mut self) -> String {
        let t = self.cmd(Command::Status {
            job: "r".into(),
            instance: None,
            all: false,
            env: vec![],
        });
        match self.h.replies.get(&t).unwrap() {
            Response::Ok {
                body: Body::Instances(v),
            } => v.iter().map(|i| i.upstart_line()).collect(),
            other => format!("{other:?}"),
        }
    }

    /// How long after the exit now the respawn comes (ms), found by stepping the clock.
    fn pause_after_exit(&mut self) -> u64 {
        let before = self.spawns();
        self.fail();
        let from = self.now;
        for _ in 0..1000 {
            if self.spawns() > before {
                return self.now - from;
            }
            self.advance(50);
        }
        panic!("no respawn within 50 s");
    }
}

#[test]
fn issue17_item6_pause_doubles_up_to_max() {
    let mut t = T::new("respawn\nrespawn limit unlimited\nrespawn delay 1 max 4\nexec /bin/r");
    t.start();
    assert_eq!(t.spawns(), 1);
    let pauses: Vec<u64> = (0..5).map(|_| t.pause_after_exit()).collect();
    assert_eq!(pauses, [1000, 2000, 4000, 4000, 4000]);
}

#[test]
fn issue17_item6_paused_instance_waits_in_post_stop_with_a_deadline() {
    let mut t = T::new("respawn\nrespawn delay 3\nexec /bin/r");
    t.start();
    t.advance(100);
    t.fail();
    assert_eq!(t.spawns(), 1, "no respawn before the pause is over");
    assert_eq!(t.status(), "r start/post-stop");
    // The pause is an engine deadline: the loop sleeps until then, it does not spin.
    assert_eq!(t.e.next_deadline(), Some(t.now + 3000));
    t.advance(2999);
    assert_eq!(t.spawns(), 1);
    t.advance(1);
    assert_eq!(t.spawns(), 2);
    assert!(t.status().starts_with("r start/running"), "{}", t.status());
    // Without `max` the pause stays the same.
    assert_eq!(t.pause_after_exit(), 3000);
}

#[test]
fn issue17_item6_stop_during_the_pause_ends_it() {
    let mut t = T::new("respawn\nrespawn delay 5\nexec /bin/r");
    t.start();
    t.fail();
    assert_eq!(t.status(), "r start/post-stop");
    t.cmd(Command::Stop {
        job: "r".into(),
        instance: None,
        env: vec![],
        wait: false,
    });
    assert_eq!(t.status(), "r stop/waiting");
    t.advance(10_000);
    assert_eq!(t.spawns(), 1, "no respawn after the stop");
    assert_eq!(t.e.next_deadline(), None);
    assert!(t.e.is_idle());
    // And a later start runs at once.
    t.start();
    assert_eq!(t.spawns(), 2);
}

#[test]
fn issue17_item6_stop_all_during_the_pause_ends_it() {
    let mut t = T::new("respawn\nrespawn delay 5\nexec /bin/r");
    t.start();
    t.fail();
    t.e.stop_all(&mut t.h);
    assert!(t.e.is_idle());
    t.advance(10_000);
    assert_eq!(t.spawns(), 1);
}

#[test]
fn issue17_item6_a_run_that_stayed_up_resets_the_pause() {
    let mut t = T::new("respawn\nrespawn limit unlimited\nrespawn delay 1 max 8\nexec /bin/r");
    t.start();
    assert_eq!(t.pause_after_exit(), 1000);
    assert_eq!(t.pause_after_exit(), 2000);
    assert_eq!(t.pause_after_exit(), 4000);
    // Up for longer than both `max` and RESPAWN_RESET_S: back to the first delay.
    t.advance(u64::from(RESPAWN_RESET_S) * 1000);
    assert_eq!(t.pause_after_exit(), 1000);
    // Up for a while, but less than that: the pause goes on doubling.
    t.advance(1000);
    assert_eq!(t.pause_after_exit(), 2000);
}

#[test]
fn issue17_item6_respawn_limit_still_applies() {
    // Four respawns in 60 s with pauses of 1, 2, 4, 4 s: the fourth passes the limit.
    let mut t = T::new("respawn\nrespawn limit 3 60\nrespawn delay 1 max 4\nexec /bin/r");
    t.start();
    for _ in 0..3 {
        t.pause_after_exit();
    }
    t.fail();
    t.advance(60_000);
    assert_eq!(t.spawns(), 4);
    assert_eq!(t.status(), "r stop/waiting");
}

#[test]
fn issue17_item6_without_a_delay_respawn_is_immediate() {
    let mut t = T::new("respawn\nexec /bin/r");
    t.start();
    t.fail();
    assert_eq!(t.spawns(), 2);
    assert_eq!(t.e.next_deadline(), None);
}
