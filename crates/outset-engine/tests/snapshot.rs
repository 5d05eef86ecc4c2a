//! Issue 15 item 1/2: an engine restored from its snapshot (through JSON) behaves as the one
//! it was taken from: the same effects, replies and states on the next events and timers,
//! even on a clock that starts elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::testing::FakeHost;
use outset_engine::*;
use outset_job::{ProcessKind, parse_job};
use outset_proto::{Body, Command, Response};

use ExitStatus::*;
use ProcessKind::*;

const JOBS: &[(&str, &str)] = &[
    ("svc", "exec /bin/svc"),
    ("pre", "pre-start exec /bin/pre\nexec /bin/x"),
    ("slow", "kill timeout 5\nexec /bin/slow"),
    ("notif", "expect notify\nstart timeout 30\nexec /bin/n"),
    ("resp", "respawn\nrespawn limit 3 60\nexec /bin/r"),
    ("inst", "instance $N\nexec /bin/i"),
    ("both", "start on a and b\nexec /bin/both"),
    ("fork", "expect fork\nexec /bin/f"),
    ("watch", "start on started svc and c\nexec /bin/w"),
    (
        "hook",
        "kill timeout 2\npre-stop exec /bin/hang\nexec /bin/h",
    ),
];

fn opts() -> Options {
    Options {
        base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
        daemon_env: Vec::new(),
        version: "test".into(),
        track_ptrace: false,
        confirm_spawns: false,
        fixed_env_table: false,
    }
}

struct Side {
    e: Engine,
    h: FakeHost,
    now: u64,
}

impl Side {
    fn cmd(&mut self, token: u64, c: Command) {
        self.e.command(c, ReplyToken(token), &mut self.h);
    }

    fn pid(&self, job: &str, kind: ProcessKind) -> u32 {
        self.h
            .spawned
            .iter()
            .rev()
            .find(|(_, s, _)| s.job == job && s.kind == kind)
            .map(|x| x.2)
            .unwrap()
    }

    fn inst(&self, job: &str) -> InstanceId {
        self.h
            .spawned
            .iter()
            .rev()
            .find(|(_, s, _)| s.job == job)
            .map(|x| x.0)
            .unwrap()
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.e.set_now(self.now);
        self.e.tick(&mut self.h);
    }

    fn status_all(&mut self, token: u64) -> Vec<String> {
        self.cmd(token, Command::List);
        match self.h.replies.get(&token) {
            Some(Response::Ok {
                body: Body::Instances(v),
            }) => v.iter().map(|i| i.upstart_line()).collect(),
            other => panic!("{other:?}"),
        }
    }
}

fn start(job: &str, env: &[&str]) -> Command {
    Command::Start {
        job: job.into(),
        env: env.iter().map(|s| s.to_string()).collect(),
        wait: true,
    }
}

/// Every kind of state the issue lists, with clients waiting on several.
fn scenario() -> Side {
    let mut s = Side {
        e: Engine::new(opts()),
        h: FakeHost::default(),
        now: 1_000,
    };
    s.e.set_now(s.now);
    let jobs = JOBS.iter().map(|(n, t)| parse_job(n, t).unwrap()).collect();
    s.e.set_jobs(jobs, &mut s.h);
    s.cmd(1, start("svc", &[]));
    s.cmd(2, start("pre", &[]));
    s.cmd(3, start("slow", &[]));
    s.cmd(
        4,
        Command::Stop {
            job: "slow".into(),
            instance: None,
            env: Vec::new(),
            wait: true,
        },
    );
    s.cmd(5, start("notif", &[]));
    s.cmd(6, start("resp", &[]));
    let r = s.pid("resp", Main);
    s.advance(100);
    assert!(s.e.exited(r, Exited(1), &mut s.h));
    s.cmd(7, start("inst", &["N=1"]));
    s.cmd(8, start("inst", &["N=2"]));
    // A blocked emit with its client waiting: `a` is latched by `both`'s half-true `and`.
    s.cmd(
        9,
        Command::Emit {
            event: "a".into(),
            env: vec!["K=v".into()],
            wait: true,
        },
    );
    s.cmd(10, start("fork", &[]));
    s.cmd(11, start("hook", &[]));
    s.cmd(
        12,
        Command::Stop {
            job: "hook".into(),
            instance: None,
            env: Vec::new(),
            wait: true,
        },
    );
    s.advance(500);
    for t in [2, 4, 5, 9, 10, 12] {
        assert!(!s.h.replies.contains_key(&t), "client {t} still waits");
    }
    s
}

/// The inputs after the re-exec, the same on both sides; `base` is each side's clock at
/// the snapshot.
fn continuation(s: &mut Side, pids: &Pids) {
    // The `and` completes: `both` starts and the blocked emit is answered.
    s.e.emit("b", Vec::new(), None, &mut s.h);
    // `watch` needs `started svc` (level) and `c`.
    s.e.emit("c", Vec::new(), None, &mut s.h);
    assert!(s.e.exited(pids.pre, Exited(0), &mut s.h));
    s.h.procs.insert(pids.fork_inst, vec![pids.fork + 50]);
    assert!(s.e.exited(pids.fork, Exited(0), &mut s.h));
    s.e.notify(pids.notif_inst, 0, "READY=1", &mut s.h);
    // The kill timeouts fire at the times they were due.
    s.advance(1_400);
    s.advance(200);
    s.advance(3_000);
    s.advance(1_000);
    assert!(s.e.exited(pids.slow, Signaled(9), &mut s.h));
    s.e.after_reap(&mut s.h);
    // The hung pre-stop had SIGKILL; the stop goes on to the main process.
    assert!(s.e.exited(pids.hook_pre, Signaled(9), &mut s.h));
    assert!(s.e.exited(pids.hook, Signaled(15), &mut s.h));
    s.e.after_reap(&mut s.h);
    // Respawn under the limit, then past it.
    for n in 0..3 {
        let r = if n == 0 {
            pids.resp
        } else {
            s.pid("resp", Main)
        };
        s.advance(10);
        s.e.exited(r, Exited(1), &mut s.h);
    }
    s.advance(100_000);
}

struct Pids {
    pre: u32,
    hook: u32,
    hook_pre: u32,
    resp: u32,
    fork: u32,
    fork_inst: InstanceId,
    notif_inst: InstanceId,
    slow: u32,
}

/// What a side did since its effects were last cleared.
fn effects(s: &mut Side) -> String {
    let mut replies: Vec<_> = s.h.replies.iter().collect();
    replies.sort_by_key(|(t, _)| **t);
    let out = format!(
        "spawned {:?}\nsignals {:?}\nkilled {:?}\nremoved {:?}\nreplies {:?}\nevents {:?}",
        s.h.spawned
            .iter()
            .map(|(i, spec, pid)| (i, &spec.job, spec.kind, pid, &spec.env))
            .collect::<Vec<_>>(),
        s.h.signals,
        s.h.killed,
        s.h.removed,
        replies,
        s.e.take_events(),
    );
    out
}

fn clear(h: &mut FakeHost) {
    h.spawned.clear();
    h.signals.clear();
    h.killed.clear();
    h.removed.clear();
    h.replies.clear();
}

#[test]
fn issue15_item1_restored_engine_behaves_the_same() {
    let mut a = scenario();
    let pids = Pids {
        pre: a.pid("pre", PreStart),
        hook: a.pid("hook", Main),
        hook_pre: a.pid("hook", PreStop),
        resp: a.pid("resp", Main),
        fork: a.pid("fork", Main),
        fork_inst: a.inst("fork"),
        notif_inst: a.inst("notif"),
        slow: a.pid("slow", Main),
    };
    let snap = a.e.snapshot();
    let text = serde_json::to_string(&snap).unwrap();
    let back: Snapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(back, snap, "the JSON form loses nothing");

    // The new image's clock starts elsewhere: deadlines are kept as time left.
    let shift = 7_777_777;
    let mut b = Side {
        e: Engine::restore(opts(), back, a.now + shift).unwrap(),
        h: FakeHost {
            next_pid: a.h.next_pid,
            procs: a.h.procs.clone(),
            ..FakeHost::default()
        },
        now: a.now + shift,
    };
    assert_eq!(b.e.snapshot(), snap, "restoring changes nothing");
    assert_eq!(b.e.next_deadline(), a.e.next_deadline().map(|d| d + shift));
    assert_eq!(b.status_all(1000), a.status_all(1000));
    clear(&mut a.h);
    clear(&mut b.h);
    a.e.record_events();
    b.e.record_events();

    continuation(&mut a, &pids);
    continuation(&mut b, &pids);
    let (ea, eb) = (effects(&mut a), effects(&mut b));
    assert_eq!(ea, eb);
    // The continuation did what the waiting clients wait for.
    for t in [2, 4, 5, 9, 10, 12] {
        assert!(a.h.replies.contains_key(&t), "client {t} answered: {ea}");
    }
    assert!(ea.contains("\"both\""), "the `and` completed: {ea}");
    assert!(ea.contains("\"watch\""), "level `started svc` held: {ea}");
    assert_eq!(b.status_all(2000), a.status_all(2000));
    assert_eq!(b.e.snapshot(), a.e.snapshot());
}

#[test]
fn issue15_item1_snapshot_is_stable_and_plain_data() {
    let a = scenario();
    let one = serde_json::to_string(&a.e.snapshot()).unwrap();
    let two = serde_json::to_string(&a.e.snapshot()).unwrap();
    assert_eq!(one, two, "one state, one text");
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert!(v["instances"].as_array().unwrap().len() >= 9);
    assert!(!v["events"].as_array().unwrap().is_empty());
}

#[test]
fn issue15_item1_inconsistent_states_are_refused() {
    let a = scenario();
    let snap = a.e.snapshot();

    let mut bad = snap.clone();
    bad.instances[0].job = "nosuchjob".into();
    let err = Engine::restore(opts(), bad, 0).err().unwrap();
    assert!(err.contains("nosuchjob"), "{err}");

    let mut bad = snap.clone();
    bad.pending.push(999_999);
    assert!(Engine::restore(opts(), bad, 0).is_err());

    let mut bad = snap.clone();
    bad.next_id = 1;
    assert!(Engine::restore(opts(), bad, 0).is_err());

    let mut bad = snap.clone();
    let c = bad
        .classes
        .iter_mut()
        .find(|c| c.config.name == "both")
        .unwrap();
    c.start_on.as_mut().unwrap().push(None);
    let err = Engine::restore(opts(), bad, 0).err().unwrap();
    assert!(err.contains("start on"), "{err}");

    assert!(Engine::restore(opts(), snap, 0).is_ok());
}

/// Issue 15 item 4/5: adopted instances run with the PIDs found (main by the job's rules),
/// are not started again by their `start on` event, and stop as any other.
#[test]
fn issue15_item4_adopted_instances_run_and_are_not_started_twice() {
    let mut s = Side {
        e: Engine::new(opts()),
        h: FakeHost::default(),
        now: 0,
    };
    let jobs = [
        ("web", "start on startup\nexec /bin/web"),
        ("pf", "start on startup\npid file /run/pf.pid\nexec /bin/pf"),
        ("tty", "instance $T\nexec /bin/tty"),
        ("other", "start on startup\nexec /bin/other"),
    ];
    let jobs = jobs.iter().map(|(n, t)| parse_job(n, t).unwrap()).collect();
    s.e.set_jobs(jobs, &mut s.h);
    s.h.pid_files.insert("/run/pf.pid".into(), 502);
    let web = s.e.adopt("web", "", &[400, 401], &mut s.h).unwrap();
    let pf = s.e.adopt("pf", "", &[501, 502], &mut s.h).unwrap();
    s.e.adopt("tty", "1", &[600], &mut s.h).unwrap();
    assert!(s.e.adopt("web", "", &[700], &mut s.h).is_err(), "exists");
    assert!(s.e.adopt("nope", "", &[700], &mut s.h).is_err(), "no job");
    assert!(s.e.adopt("tty", "2", &[], &mut s.h).is_err(), "no process");
    assert_eq!(s.e.main_pid(web), Some(400), "the oldest");
    assert_eq!(s.e.main_pid(pf), Some(502), "the pid file's");
    s.e.emit("startup", Vec::new(), None, &mut s.h);
    let spawned: Vec<_> =
        s.h.spawned
            .iter()
            .map(|(_, sp, _)| sp.job.clone())
            .collect();
    assert_eq!(spawned, ["other"], "only the job not adopted starts");
    assert_eq!(
        s.status_all(1),
        [
            "other start/running, process 1001",
            "pf start/running, process 502",
            "tty (1) start/running, process 600",
            "web start/running, process 400",
        ]
    );
    s.cmd(
        2,
        Command::Stop {
            job: "web".into(),
            instance: None,
            env: Vec::new(),
            wait: true,
        },
    );
    assert_eq!(s.h.signals, [(400, outset_job::Signal::TERM)]);
    assert!(s.e.exited(400, Signaled(15), &mut s.h));
    s.h.procs.insert(web, Vec::new());
    s.e.after_reap(&mut s.h);
    assert!(s.h.replies.contains_key(&2), "the stop completes");
}

/// The job environment table (`set-env`) and what a running instance started with survive a
/// re-exec: a job started after it still gets the table, the one running keeps its own.
#[test]
fn issue15_env_table_and_instance_bases_survive_restore() {
    let mut a = scenario();
    a.cmd(
        50,
        Command::SetEnv {
            env: vec!["TABLE=one".into()],
            retain: false,
            job: None,
            instance: None,
        },
    );
    a.cmd(51, start("inst", &["N=3"]));
    a.cmd(
        52,
        Command::SetEnv {
            env: vec!["TABLE=two".into()],
            retain: false,
            job: None,
            instance: None,
        },
    );
    let snap = a.e.snapshot();
    assert!(snap.env_table.is_some(), "a changed table is in the state");
    let text = serde_json::to_string(&snap).unwrap();
    let back: Snapshot = serde_json::from_str(&text).unwrap();
    let mut b = Side {
        e: Engine::restore(opts(), back, a.now).unwrap(),
        h: FakeHost {
            next_pid: a.h.next_pid,
            procs: a.h.procs.clone(),
            ..FakeHost::default()
        },
        now: a.now,
    };
    assert_eq!(b.e.snapshot(), snap, "restoring changes nothing");
    let get = |s: &mut Side, token: u64, instance: Option<&str>| {
        s.cmd(
            token,
            Command::GetEnv {
                name: "TABLE".into(),
                job: instance.map(|_| "inst".to_string()),
                instance: instance.map(str::to_string),
            },
        );
        s.h.replies.get(&token).cloned()
    };
    assert_eq!(get(&mut b, 60, None), get(&mut a, 60, None));
    assert_eq!(
        get(&mut b, 61, None),
        Some(Response::Ok {
            body: Body::Value("two".into())
        })
    );
    // The instance started under `TABLE=one` keeps it after the restore.
    assert_eq!(
        get(&mut b, 62, Some("3")),
        Some(Response::Ok {
            body: Body::Value("one".into())
        })
    );
    // A job started in the new image gets the current table.
    b.cmd(63, start("inst", &["N=4"]));
    let spawned =
        b.h.spawned
            .iter()
            .rev()
            .find(|(_, s, _)| s.job == "inst")
            .unwrap();
    assert!(
        spawned
            .1
            .env
            .iter()
            .any(|(k, v)| k == "TABLE" && v == "two"),
        "{:?}",
        spawned.1.env
    );
}
