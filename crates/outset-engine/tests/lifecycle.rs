//! The engine driven without processes: a fake host records spawns, signals and replies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::*;
use outset_job::{ProcessKind, ReadySource, Signal, parse_job};
use outset_proto::{Body, Command, Response};

use outset_engine::testing::FakeHost as Host;

struct T {
    e: Engine,
    h: Host,
    token: u64,
    /// Every event handled, as `name K=V…` lines, from `log` jobs.
    now: u64,
}

impl T {
    fn new(jobs: &[(&str, &str)]) -> T {
        let mut e = Engine::new(Options {
            base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
            daemon_env: vec![("HOME".into(), "/root".into())],
            version: "test".into(),
            track_ptrace: false,
            confirm_spawns: false,
            fixed_env_table: false,
        });
        let mut h = Host::default();
        let configs = jobs.iter().map(|(n, t)| parse_job(n, t).unwrap()).collect();
        e.record_events();
        e.set_jobs(configs, &mut h);
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

    fn reply(&self, token: u64) -> Option<&Response> {
        self.h.replies.get(&token)
    }

    fn start(&mut self, job: &str, env: &[&str]) -> u64 {
        self.cmd(Command::Start {
            job: job.into(),
            env: env.iter().map(|s| s.to_string()).collect(),
            wait: true,
        })
    }

    fn stop(&mut self, job: &str, env: &[&str]) -> u64 {
        self.cmd(Command::Stop {
            job: job.into(),
            instance: None,
            env: env.iter().map(|s| s.to_string()).collect(),
            wait: true,
        })
    }

    fn emit(&mut self, name: &str, env: &[&str]) -> u64 {
        self.cmd(Command::Emit {
            event: name.into(),
            env: env.iter().map(|s| s.to_string()).collect(),
            wait: true,
        })
    }

    /// The PID of the latest spawn of `job`'s `kind` process.
    fn pid(&self, job: &str, kind: ProcessKind) -> u32 {
        self.h
            .spawned
            .iter()
            .rev()
            .find(|(_, s, _)| s.job == job && s.kind == kind)
            .map(|x| x.2)
            .unwrap()
    }

    fn spawns(&self, job: &str, kind: ProcessKind) -> usize {
        self.h
            .spawned
            .iter()
            .filter(|(_, s, _)| s.job == job && s.kind == kind)
            .count()
    }

    fn spec(&self, job: &str, kind: ProcessKind) -> &SpawnSpec {
        &self
            .h
            .spawned
            .iter()
            .rev()
            .find(|(_, s, _)| s.job == job && s.kind == kind)
            .unwrap()
            .1
    }

    fn exit(&mut self, job: &str, kind: ProcessKind, status: ExitStatus) {
        let pid = self.pid(job, kind);
        assert!(
            self.e.exited(pid, status, &mut self.h),
            "{job} {kind:?} not tracked"
        );
    }

    fn status(&mut self, job: &str, env: &[&str]) -> String {
        let t = self.cmd(Command::Status {
            job: job.into(),
            instance: None,
            all: false,
            env: env.iter().map(|s| s.to_string()).collect(),
        });
        match self.reply(t).unwrap() {
            Response::Ok {
                body: Body::Instances(v),
            } => v
                .iter()
                .map(|i| i.upstart_line())
                .collect::<Vec<_>>()
                .join("\n"),
            other => format!("{other:?}"),
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.e.set_now(self.now);
        self.e.tick(&mut self.h);
    }
}

fn get<'a>(env: &'a Env, key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn ok_instances(r: Option<&Response>) -> Vec<String> {
    match r {
        Some(Response::Ok {
            body: Body::Instances(v),
        }) => v.iter().map(|i| i.upstart_line()).collect(),
        other => panic!("expected instances, got {other:?}"),
    }
}

fn error(r: Option<&Response>) -> String {
    match r {
        Some(Response::Error { message }) => message.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

use ExitStatus::*;
use ProcessKind::*;

#[test]
fn service_start_stop_cycle() {
    let mut t = T::new(&[(
        "web",
        "exec /bin/web\npre-start exec /bin/pre\npost-stop exec /bin/post\nenv A=1\nexport A",
    )]);
    let tok = t.start("web", &[]);
    assert!(t.reply(tok).is_none(), "waits for pre-start");
    assert_eq!(
        t.status("web", &[]),
        format!("web start/pre-start, process {}", t.pid("web", PreStart))
    );
    t.exit("web", PreStart, Exited(0));
    let main = t.pid("web", Main);
    assert_eq!(
        ok_instances(t.reply(tok)),
        [format!("web start/running, process {main}")]
    );
    let spec = t.spec("web", Main);
    assert_eq!(get(&spec.env, "A"), Some("1"));
    assert_eq!(get(&spec.env, "UPSTART_JOB"), Some("web"));
    assert_eq!(get(&spec.env, "UPSTART_INSTANCE"), Some(""));
    assert_eq!(get(&spec.env, "PATH"), Some(DEFAULT_PATH));

    let tok = t.stop("web", &[]);
    assert_eq!(t.h.signals, [(main, Signal::TERM)]);
    assert!(t.reply(tok).is_none());
    t.exit("web", Main, Signaled(15));
    // post-stop learns how the run ended.
    let post = t.spec("web", PostStop).env.clone();
    assert_eq!(get(&post, "RESULT"), Some("ok"));
    assert_eq!(get(&post, "PROCESS"), Some("main"));
    assert_eq!(get(&post, "EXIT_SIGNAL"), Some("TERM"));
    t.exit("web", PostStop, Exited(0));
    assert_eq!(ok_instances(t.reply(tok)), ["web stop/waiting"]);
    assert_eq!(t.status("web", &[]), "web stop/waiting");
    assert_eq!(t.h.removed.len(), 1);
}

/// A job that records every event it sees through `start on`.
fn watcher(events: &str) -> (&'static str, String) {
    (
        "watch",
        format!("start on {events}\ninstance $UPSTART_EVENTS$JOB$RESULT\ntask\nexec /bin/true"),
    )
}

fn watched(t: &T) -> Vec<Env> {
    t.h.spawned
        .iter()
        .filter(|(_, s, _)| s.job == "watch")
        .map(|(_, s, _)| s.env.clone())
        .collect()
}

#[test]
fn stopped_event_env_for_each_failure_kind() {
    let (wn, wt) = watcher("stopped JOB!=watch");
    let mut t = T::new(&[
        ("code", "exec /bin/x"),
        ("sig", "exec /bin/x"),
        ("pre", "pre-start exec /bin/false\nexec /bin/x"),
        ("post", "post-stop exec /bin/false\nexec /bin/x"),
        ("missing", "exec /bin/nope"),
        (
            "poststart",
            "post-start exec /bin/false\npre-stop exec /bin/false\nexec /bin/x",
        ),
        (wn, &wt),
    ]);
    t.start("code", &[]);
    t.exit("code", Main, Exited(3));
    t.start("sig", &[]);
    t.exit("sig", Main, Signaled(11));
    t.start("pre", &[]);
    t.exit("pre", PreStart, Exited(1));
    t.start("post", &[]);
    t.exit("post", Main, Exited(0));
    t.exit("post", PostStop, Exited(2));
    t.h.fail_spawn.push("missing:main".into());
    let tok = t.start("missing", &[]);
    assert_eq!(error(t.reply(tok)), "Job failed to start: missing");
    let tok = t.start("poststart", &[]);
    t.exit("poststart", PostStart, Exited(1));
    assert!(
        matches!(t.reply(tok), Some(Response::Ok { .. })),
        "post-start failure ignored"
    );
    t.stop("poststart", &[]);
    t.exit("poststart", PreStop, Exited(1));
    t.exit("poststart", Main, Signaled(15));

    let envs = watched(&t);
    let find = |job: &str| {
        envs.iter()
            .find(|e| get(e, "JOB") == Some(job))
            .unwrap()
            .clone()
    };
    let pick = |e: &Env| {
        ["RESULT", "PROCESS", "EXIT_STATUS", "EXIT_SIGNAL"].map(|k| get(e, k).map(str::to_string))
    };
    let s = |v: [Option<&str>; 4]| v.map(|x| x.map(str::to_string));
    assert_eq!(
        pick(&find("code")),
        s([Some("failed"), Some("main"), Some("3"), None])
    );
    assert_eq!(
        pick(&find("sig")),
        s([Some("failed"), Some("main"), None, Some("SEGV")])
    );
    assert_eq!(
        pick(&find("pre")),
        s([Some("failed"), Some("pre-start"), Some("1"), None])
    );
    assert_eq!(
        pick(&find("post")),
        s([Some("failed"), Some("post-stop"), Some("2"), None])
    );
    assert_eq!(
        pick(&find("missing")),
        s([Some("failed"), Some("main"), None, None])
    );
    assert_eq!(pick(&find("poststart")), s([Some("ok"), None, None, None]));
    // Upstart's order: JOB, INSTANCE, RESULT, PROCESS, EXIT_STATUS.
    let code = find("code");
    let keys: Vec<&str> = code.iter().map(|(k, _)| k.as_str()).collect();
    let pos = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    assert!(pos("JOB") < pos("INSTANCE") && pos("INSTANCE") < pos("RESULT"));
    assert!(pos("RESULT") < pos("PROCESS") && pos("PROCESS") < pos("EXIT_STATUS"));
}

#[test]
fn task_start_waits_for_the_end() {
    let mut t = T::new(&[("t", "task\nexec /bin/work")]);
    let tok = t.start("t", &[]);
    assert!(t.reply(tok).is_none());
    t.exit("t", Main, Exited(0));
    assert_eq!(ok_instances(t.reply(tok)), ["t stop/waiting"]);
}

#[test]
fn starting_blocks_until_the_started_job_runs() {
    let mut t = T::new(&[
        ("b", "exec /bin/b"),
        (
            "a",
            "start on starting b\npre-start exec /bin/slow\nexec /bin/a",
        ),
    ]);
    let tok = t.start("b", &[]);
    assert_eq!(t.spawns("b", Main), 0, "b waits in starting for a");
    assert_eq!(t.status("b", &[]), "b start/starting");
    t.exit("a", PreStart, Exited(0));
    assert_eq!(t.spawns("b", Main), 1);
    assert!(t.reply(tok).is_some());
}

#[test]
fn stopping_blocks_until_the_stopped_job_is_down() {
    let mut t = T::new(&[
        ("b", "exec /bin/b"),
        ("a", "start on started b\nstop on stopping b\nexec /bin/a"),
    ]);
    t.start("b", &[]);
    assert_eq!(t.spawns("a", Main), 1);
    t.stop("b", &[]);
    let a = t.pid("a", Main);
    let b = t.pid("b", Main);
    assert_eq!(
        t.h.signals,
        [(a, Signal::TERM)],
        "b is not signalled before a has stopped"
    );
    t.exit("a", Main, Signaled(15));
    assert_eq!(t.h.signals, [(a, Signal::TERM), (b, Signal::TERM)]);
}

#[test]
fn partial_and_waits_and_env_holds_both() {
    let mut t = T::new(&[("j", "start on a and b\ntask\nexec /bin/j")]);
    let ta = t.emit("a", &["X=1"]);
    assert!(t.reply(ta).is_none(), "a waits");
    let tb = t.emit("b", &["Y=2"]);
    assert!(t.reply(ta).is_none() && t.reply(tb).is_none());
    let env = t.spec("j", Main).env.clone();
    assert_eq!((get(&env, "X"), get(&env, "Y")), (Some("1"), Some("2")));
    assert_eq!(get(&env, "UPSTART_EVENTS"), Some("a b"));
    t.exit("j", Main, Exited(0));
    assert!(matches!(t.reply(ta), Some(Response::Ok { .. })));
    assert!(matches!(t.reply(tb), Some(Response::Ok { .. })));
}

#[test]
fn failed_event_and_event_failed_follow_up() {
    let mut t = T::new(&[("j", "start on e\ntask\nexec /bin/j")]);
    let tok = t.emit("e", &["K=v"]);
    t.exit("j", Main, Exited(1));
    assert_eq!(error(t.reply(tok)), "Event failed");
    let failed: Vec<Env> =
        t.e.take_events()
            .into_iter()
            .filter(|(n, _)| n == "e/failed")
            .map(|(_, e)| e)
            .collect();
    assert_eq!(failed, [vec![("K".to_string(), "v".to_string())]]);
}

#[test]
fn matching_positional_named_negated_glob() {
    let mut t = T::new(&[
        ("p", "start on ev a\nexec /bin/p"),
        ("n", "start on ev IFACE=eth*\nexec /bin/n"),
        ("x", "start on ev IFACE!=lo\nexec /bin/x"),
        ("c", "start on runlevel [!06]\nexec /bin/c"),
    ]);
    t.emit("ev", &["A=a", "IFACE=lo"]);
    assert_eq!(
        (
            t.spawns("p", Main),
            t.spawns("n", Main),
            t.spawns("x", Main)
        ),
        (1, 0, 0)
    );
    t.emit("ev", &["A=b", "IFACE=eth0"]);
    assert_eq!(
        (
            t.spawns("p", Main),
            t.spawns("n", Main),
            t.spawns("x", Main)
        ),
        (1, 1, 1)
    );
    t.emit("runlevel", &["RUNLEVEL=0"]);
    assert_eq!(t.spawns("c", Main), 0);
    t.emit("runlevel", &["RUNLEVEL=2"]);
    assert_eq!(t.spawns("c", Main), 1);
}

#[test]
fn instances_and_their_errors() {
    let mut t = T::new(&[("w", "instance $N\nusage \"start w N=name\"\nexec /bin/w $N")]);
    let t1 = t.start("w", &["N=one"]);
    let t2 = t.start("w", &["N=two"]);
    assert_eq!(
        ok_instances(t.reply(t1))[0],
        format!("w (one) start/running, process {}", t.h.spawned[0].2)
    );
    assert!(t.reply(t2).is_some());
    let tok = t.start("w", &["N=one"]);
    assert_eq!(error(t.reply(tok)), "Job is already running: w (one)");
    let tok = t.start("w", &[]);
    assert_eq!(
        error(t.reply(tok)),
        "Unknown parameter: N\nUsage: start w N=name"
    );
    let tok = t.stop("w", &["N=three"]);
    assert_eq!(error(t.reply(tok)), "Unknown instance: three");
    let tok = t.start("w", &["bad"]);
    assert_eq!(error(t.reply(tok)), "Env must be KEY=VALUE pairs");
    let tok = t.start("nope", &[]);
    assert_eq!(error(t.reply(tok)), "Unknown job: nope");
    assert_eq!(t.status("w", &[]).lines().count(), 2);
    let tok = t.stop("w", &["N=one"]);
    t.exit("w", Main, Signaled(15));
    let _ = tok;
    assert_eq!(t.status("w", &[]).lines().count(), 1);
}

#[test]
fn respawn_emits_stopping_and_starting_but_not_stopped() {
    let mut t = T::new(&[("r", "respawn\nexec /bin/r")]);
    t.start("r", &[]);
    t.exit("r", Main, Exited(0));
    assert_eq!(t.spawns("r", Main), 2);
    let names: Vec<String> = t.e.take_events().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["starting", "started", "stopping", "starting", "started"]
    );
    assert!(t.status("r", &[]).starts_with("r start/running"));
}

#[test]
fn respawn_limit_stops_the_job() {
    let (wn, wt) = watcher("stopped r");
    let mut t = T::new(&[("r", "respawn\nrespawn limit 3 60\nexec /bin/r"), (wn, &wt)]);
    t.start("r", &[]);
    for _ in 0..4 {
        t.advance(100);
        t.exit("r", Main, Exited(1));
    }
    assert_eq!(t.spawns("r", Main), 4);
    assert_eq!(t.status("r", &[]), "r stop/waiting");
    let env = &watched(&t)[0];
    assert_eq!(
        (get(env, "RESULT"), get(env, "PROCESS")),
        (Some("failed"), Some("respawn"))
    );
}

#[test]
fn respawn_limit_window_slides() {
    let mut t = T::new(&[("r", "respawn\nrespawn limit 2 1\nexec /bin/r")]);
    t.start("r", &[]);
    for _ in 0..10 {
        t.advance(600);
        t.exit("r", Main, Exited(1));
    }
    assert_eq!(t.spawns("r", Main), 11);
}

#[test]
fn normal_exit_does_not_respawn() {
    let mut t = T::new(&[("r", "respawn\nnormal exit 0 TERM\nexec /bin/r")]);
    t.start("r", &[]);
    t.exit("r", Main, Signaled(15));
    assert_eq!(t.spawns("r", Main), 1);
    assert_eq!(t.status("r", &[]), "r stop/waiting");
}

#[test]
fn kill_timeout_kills_everything() {
    let mut t = T::new(&[("k", "kill timeout 2\nkill signal INT\nexec /bin/k")]);
    t.start("k", &[]);
    let tok = t.stop("k", &[]);
    assert_eq!(t.h.signals, [(t.pid("k", Main), Signal::INT)]);
    assert_eq!(t.e.next_deadline(), Some(2000));
    t.advance(1999);
    assert!(t.h.killed.is_empty());
    t.advance(1);
    assert_eq!(t.h.killed.len(), 1);
    t.exit("k", Main, Signaled(9));
    assert!(t.reply(tok).is_some());
}

#[test]
fn pre_start_stopping_itself_cancels_the_start() {
    let mut t = T::new(&[("j", "pre-start exec stop\nexec /bin/j")]);
    let tok = t.start("j", &[]);
    let stop = t.stop("j", &[]);
    t.exit("j", PreStart, Exited(0));
    assert_eq!(t.spawns("j", Main), 0);
    assert_eq!(t.status("j", &[]), "j stop/waiting");
    assert!(t.reply(stop).is_some());
    assert!(t.reply(tok).is_some());
}

#[test]
fn bug_447654_level_triggered_job_states() {
    let mut t = T::new(&[
        ("a", "exec /bin/a"),
        ("b", "exec /bin/b"),
        (
            "c",
            "start on started a and started b\nstop on stopping b\nexec /bin/c",
        ),
    ]);
    t.start("a", &[]);
    t.start("b", &[]);
    assert_eq!(t.spawns("c", Main), 1);
    t.stop("b", &[]);
    t.exit("c", Main, Signaled(15));
    t.exit("b", Main, Signaled(15));
    assert_eq!(t.status("c", &[]), "c stop/waiting");
    t.start("b", &[]);
    assert_eq!(
        t.spawns("c", Main),
        2,
        "c starts again while a keeps running"
    );
}

#[test]
fn stop_on_expands_instance_variables() {
    let mut t = T::new(&[("w", "instance $N\nstop on gone N=$N\nexec /bin/w")]);
    t.start("w", &["N=a"]);
    t.start("w", &["N=b"]);
    t.emit("gone", &["N=a"]);
    let pid_a = t.h.spawned[0].2;
    assert_eq!(t.h.signals, [(pid_a, Signal::TERM)]);
    t.e.exited(pid_a, Signaled(15), &mut t.h);
    let stop_env = t.status("w", &[]);
    assert_eq!(stop_env.lines().count(), 1);
}

/// Issue 11 item 3: instances read their `stop on` from the definition they started with,
/// yet each latches on its own; an instance started after a reload has the new `stop on`,
/// the older ones keep theirs.
#[test]
fn issue11_item3_shared_stop_on_latches_per_instance_and_follows_reload() {
    let mut t = T::new(&[("w", "instance $N\nstop on a and gone N=$N\nexec /bin/w")]);
    t.start("w", &["N=x"]);
    t.start("w", &["N=y"]);
    t.emit("gone", &["N=x"]);
    assert!(t.h.signals.is_empty());
    t.emit("a", &[]);
    let pid = |t: &T, i: usize| t.h.spawned[i].2;
    let (x, y) = (pid(&t, 0), pid(&t, 1));
    assert_eq!(t.h.signals, [(x, Signal::TERM)]);
    t.e.exited(x, Signaled(15), &mut t.h);
    t.e.set_jobs(
        vec![parse_job("w", "instance $N\nstop on b\nexec /bin/w").unwrap()],
        &mut t.h,
    );
    t.start("w", &["N=z"]);
    let z = pid(&t, 2);
    t.emit("b", &[]);
    assert_eq!(t.h.signals, [(x, Signal::TERM), (z, Signal::TERM)]);
    t.e.exited(z, Signaled(15), &mut t.h);
    t.emit("gone", &["N=y"]);
    assert_eq!(
        t.h.signals,
        [(x, Signal::TERM), (z, Signal::TERM), (y, Signal::TERM)]
    );
}

/// Issue 11 item 3: a `start on` kept across a reload keeps its latches (it reads the new
/// definition's copy of the same expression).
#[test]
fn issue11_item3_kept_start_on_keeps_its_latch_across_reload() {
    let mut t = T::new(&[("j", "start on a and b\nexec /bin/old")]);
    t.emit("a", &[]);
    t.e.set_jobs(
        vec![parse_job("j", "start on a and b\nexec /bin/new").unwrap()],
        &mut t.h,
    );
    t.emit("b", &[]);
    assert_eq!(
        t.spec("j", Main).process,
        outset_job::Process::Exec("/bin/new".into())
    );
}

#[test]
fn env_precedence() {
    let mut t = T::new(&[(
        "e",
        "env A=stanza\nenv B=stanza\nenv HOME\nenv UNSET\nexec /bin/e",
    )]);
    t.start("e", &["B=cmd"]);
    let env = t.spec("e", Main).env.clone();
    assert_eq!(get(&env, "A"), Some("stanza"));
    assert_eq!(get(&env, "B"), Some("cmd"));
    assert_eq!(get(&env, "HOME"), Some("/root"));
    assert_eq!(get(&env, "UNSET"), None);
}

#[test]
fn running_instance_keeps_its_definition() {
    let mut t = T::new(&[("j", "exec /bin/old")]);
    t.start("j", &[]);
    t.e.set_jobs(vec![parse_job("j", "exec /bin/new").unwrap()], &mut t.h);
    t.cmd(Command::Restart {
        job: "j".into(),
        instance: None,
        env: vec![],
        wait: true,
    });
    t.exit("j", Main, Signaled(15));
    assert_eq!(
        t.spec("j", Main).process,
        outset_job::Process::Exec("/bin/old".into())
    );
    t.stop("j", &[]);
    t.exit("j", Main, Signaled(15));
    t.start("j", &[]);
    assert_eq!(
        t.spec("j", Main).process,
        outset_job::Process::Exec("/bin/new".into())
    );
}

#[test]
fn removed_job_goes_once_stopped() {
    let mut t = T::new(&[("j", "exec /bin/j"), ("k", "exec /bin/k")]);
    t.start("j", &[]);
    t.e.set_jobs(vec![parse_job("k", "exec /bin/k").unwrap()], &mut t.h);
    assert!(t.status("j", &[]).starts_with("j start/running"));
    t.stop("j", &[]);
    t.exit("j", Main, Signaled(15));
    let tok = t.cmd(Command::Status {
        job: "j".into(),
        instance: None,
        all: false,
        env: vec![],
    });
    assert_eq!(error(t.reply(tok)), "Unknown job: j");
}

#[test]
fn boot_flow() {
    let mut t = T::new(&[
        ("udev", "start on startup\nexec /sbin/udevd"),
        ("startup-task", "start on startup\ntask\nexec /bin/startup"),
        (
            "boot-services",
            "start on stopped startup-task\ntask\nexec /bin/boot",
        ),
        (
            "system-services",
            "start on started boot-services\nexec /bin/sys",
        ),
        ("late", "start on starting system-services\nexec /bin/late"),
        ("failsafe-delay", "start on startup\ntask\nexec sleep 1"),
        (
            "failsafe",
            "start on starting system-services or stopped failsafe-delay\ntask\nexec /bin/failsafe",
        ),
    ]);
    t.e.emit("startup", Env::new(), None, &mut t.h);
    assert_eq!(t.spawns("udev", Main), 1);
    assert_eq!(t.spawns("startup-task", Main), 1);
    t.exit("startup-task", Main, Exited(0));
    assert_eq!(t.spawns("boot-services", Main), 1);
    // boot-services fails: system-services never starts, the failsafe still does.
    t.exit("boot-services", Main, Exited(1));
    assert_eq!(t.spawns("system-services", Main), 0);
    t.exit("failsafe-delay", Main, Exited(0));
    assert_eq!(t.spawns("failsafe", Main), 1);
}

#[test]
fn startup_to_late_services() {
    let mut t = T::new(&[
        ("boot-services", "start on startup\nexec /bin/boot"),
        (
            "system-services",
            "start on started boot-services\nexec /bin/sys",
        ),
        ("late", "start on starting system-services\nexec /bin/late"),
    ]);
    t.e.emit("startup", Env::new(), None, &mut t.h);
    assert_eq!(t.spawns("boot-services", Main), 1);
    assert_eq!(t.spawns("system-services", Main), 1);
    assert_eq!(t.spawns("late", Main), 1);
    let late =
        t.h.spawned
            .iter()
            .position(|(_, s, _)| s.job == "late")
            .unwrap();
    let sys =
        t.h.spawned
            .iter()
            .position(|(_, s, _)| s.job == "system-services")
            .unwrap();
    assert!(
        late < sys,
        "late is running before system-services is spawned"
    );
}

#[test]
fn stop_all_runs_post_stop_and_empties() {
    let mut t = T::new(&[
        ("a", "exec /bin/a\npost-stop exec /bin/pa"),
        ("b", "exec /bin/b"),
    ]);
    t.start("a", &[]);
    t.start("b", &[]);
    t.e.stop_all(&mut t.h);
    t.exit("a", Main, Signaled(15));
    t.exit("b", Main, Signaled(15));
    assert!(!t.e.is_idle());
    t.exit("a", PostStop, Exited(0));
    assert!(t.e.is_idle());
}

#[test]
fn list_show_config_version_reload() {
    let mut t = T::new(&[
        ("a", "exec /bin/a\nreload signal USR1"),
        ("b", "exec /bin/b"),
    ]);
    t.start("a", &[]);
    let tok = t.cmd(Command::List);
    assert_eq!(
        ok_instances(t.reply(tok)),
        [
            format!("a start/running, process {}", t.pid("a", Main)),
            "b stop/waiting".into()
        ]
    );
    let tok = t.cmd(Command::Reload {
        job: "a".into(),
        instance: None,
        env: vec![],
    });
    assert!(matches!(t.reply(tok), Some(Response::Ok { .. })));
    assert_eq!(t.h.signals, [(t.pid("a", Main), Signal(10))]);
    let tok = t.cmd(Command::Reload {
        job: "b".into(),
        instance: None,
        env: vec![],
    });
    assert_eq!(error(t.reply(tok)), "Unknown instance: ");
    let tok = t.cmd(Command::ShowConfig {
        job: Some("b".into()),
    });
    match t.reply(tok) {
        Some(Response::Ok {
            body: Body::Configs(c),
        }) => assert!(c[0].text.contains("exec /bin/b")),
        other => panic!("{other:?}"),
    }
    let tok = t.cmd(Command::Version);
    assert_eq!(
        t.reply(tok),
        Some(&Response::Ok {
            body: Body::Version("test".into())
        })
    );
}

/// The instance of the latest spawn of `job`.
fn inst_of(t: &T, job: &str) -> InstanceId {
    t.h.spawned
        .iter()
        .rev()
        .find(|(_, s, _)| s.job == job)
        .unwrap()
        .0
}

#[test]
fn expect_fork_is_running_when_the_launcher_exits_and_leaves_a_daemon() {
    let mut t = T::new(&[("d", "expect fork\nexec /bin/daemon")]);
    let tok = t.start("d", &[]);
    assert_eq!(
        t.status("d", &[]),
        format!("d start/spawned, process {}", t.pid("d", Main))
    );
    assert!(
        t.reply(tok).is_none(),
        "not running while the launcher runs"
    );
    let id = inst_of(&t, "d");
    t.h.procs.insert(id, vec![5000]);
    t.exit("d", Main, Exited(0));
    assert_eq!(
        ok_instances(t.reply(tok)),
        ["d start/running, process 5000"]
    );
    let names: Vec<String> = t.e.take_events().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["starting", "started"]);
    // The daemon's exit is the main process's exit.
    t.h.procs.insert(id, vec![]);
    assert!(t.e.exited(5000, Exited(0), &mut t.h));
    assert_eq!(t.status("d", &[]), "d stop/waiting");
}

#[test]
fn a_failing_launcher_fails_the_job() {
    let mut t = T::new(&[("d", "expect daemon\nexec /bin/daemon")]);
    let tok = t.start("d", &[]);
    t.exit("d", Main, Exited(3));
    assert_eq!(error(t.reply(tok)), "Job failed to start: d");
    let stopped =
        t.e.take_events()
            .into_iter()
            .find(|(n, _)| n == "stopped")
            .unwrap()
            .1;
    assert_eq!(get(&stopped, "PROCESS"), Some("main"));
    assert_eq!(get(&stopped, "EXIT_STATUS"), Some("3"));
}

#[test]
fn expect_daemon_waits_for_the_intermediate_to_exit() {
    let mut t = T::new(&[("d", "expect daemon\nexec /bin/daemon")]);
    let tok = t.start("d", &[]);
    let id = inst_of(&t, "d");
    // The launcher exits leaving the intermediate (older) and the daemon.
    t.h.procs.insert(id, vec![600, 601]);
    t.exit("d", Main, Exited(0));
    assert!(t.reply(tok).is_none(), "the intermediate is still there");
    t.h.procs.insert(id, vec![601]);
    assert!(t.e.exited(600, Exited(0), &mut t.h));
    assert_eq!(ok_instances(t.reply(tok)), ["d start/running, process 601"]);
}

#[test]
fn a_wrong_fork_count_settles_instead_of_sticking() {
    // One fork too many: at the start timeout the oldest process left is the main one.
    let mut t = T::new(&[("d", "expect fork 3\nexec /bin/daemon")]);
    let tok = t.start("d", &[]);
    let id = inst_of(&t, "d");
    t.h.procs.insert(id, vec![700]);
    t.exit("d", Main, Exited(0));
    assert!(t.reply(tok).is_none());
    t.advance(u64::from(LAUNCH_TIMEOUT_S) * 1000);
    assert_eq!(ok_instances(t.reply(tok)), ["d start/running, process 700"]);

    // A foreground daemon under `expect daemon`: the launcher becomes the main process after
    // the start timeout.
    let mut t = T::new(&[("f", "expect daemon\nstart timeout 3\nexec /bin/fg")]);
    let tok = t.start("f", &[]);
    t.advance(2999);
    assert!(t.reply(tok).is_none());
    t.advance(1);
    let pid = t.pid("f", Main);
    assert_eq!(
        ok_instances(t.reply(tok)),
        [format!("f start/running, process {pid}")]
    );

    // Nothing left behind: a clear failure.
    let mut t = T::new(&[("g", "expect fork\nexec /bin/gone")]);
    let tok = t.start("g", &[]);
    t.exit("g", Main, Exited(0));
    t.advance(u64::from(LAUNCH_TIMEOUT_S) * 1000);
    assert_eq!(error(t.reply(tok)), "Job failed to start: g");
}

#[test]
fn stop_from_spawned_and_stop_waits_for_every_process() {
    let mut t = T::new(&[("d", "expect fork\nexec /bin/daemon\nkill timeout 2")]);
    t.start("d", &[]);
    let id = inst_of(&t, "d");
    // Stopped while the launcher still runs: it is signalled, and the job ends.
    t.h.procs.insert(id, vec![t.pid("d", Main)]);
    let tok = t.stop("d", &[]);
    assert_eq!(t.h.signals, [(t.pid("d", Main), Signal::TERM)]);
    t.h.procs.insert(id, vec![]);
    t.exit("d", Main, Signaled(15));
    assert_eq!(ok_instances(t.reply(tok)), ["d stop/waiting"]);

    // Running with helpers: every process is signalled; stopped only when none is left.
    let mut t = T::new(&[("s", "exec /bin/s\nkill timeout 2")]);
    t.start("s", &[]);
    let id = inst_of(&t, "s");
    let main = t.pid("s", Main);
    t.h.procs.insert(id, vec![main, 900, 901]);
    let tok = t.stop("s", &[]);
    assert_eq!(t.h.signals, [(main, Signal::TERM)]);
    // The main process ends; what is left gets the kill signal then.
    t.h.procs.insert(id, vec![900, 901]);
    t.exit("s", Main, Signaled(15));
    let term = Signal::TERM;
    assert_eq!(t.h.signals, [(main, term), (900, term), (901, term)]);
    t.h.procs.insert(id, vec![901]);
    assert!(t.e.exited(900, Signaled(15), &mut t.h));
    assert!(t.reply(tok).is_none(), "901 is still there");
    t.advance(2000);
    assert_eq!(t.h.killed, [id]);
    t.h.procs.insert(id, vec![]);
    t.e.after_reap(&mut t.h);
    assert_eq!(ok_instances(t.reply(tok)), ["s stop/waiting"]);
}

/// Issue 9 item 10: members that cannot be read are not "none left": a stopping instance
/// keeps waiting for them, and a launch chain's main process is not chosen from nothing.
#[test]
fn issue9_item10_unreadable_members_are_not_empty() {
    let mut t = T::new(&[("s", "exec /bin/s\nkill timeout 2")]);
    t.start("s", &[]);
    let id = inst_of(&t, "s");
    let main = t.pid("s", Main);
    t.h.procs.insert(id, vec![main, 900]);
    let tok = t.stop("s", &[]);
    t.h.procs.insert(id, vec![900]);
    t.h.unreadable.push(id);
    t.exit("s", Main, Signaled(15));
    assert!(t.reply(tok).is_none(), "stopped although 900 may be left");
    assert_eq!(t.status("s", &[]), "s stop/killed");
    t.e.after_reap(&mut t.h);
    assert!(t.reply(tok).is_none());
    // Readable again: 900 is still there and gets the kill signal; then it is gone.
    t.h.unreadable.clear();
    t.e.after_reap(&mut t.h);
    assert_eq!(t.h.signals, [(main, Signal::TERM), (900, Signal::TERM)]);
    t.h.procs.insert(id, vec![]);
    assert!(t.e.exited(900, Signaled(15), &mut t.h));
    assert_eq!(ok_instances(t.reply(tok)), ["s stop/waiting"]);

    // A launcher exits while the cgroup cannot be read: no failure for lack of a daemon.
    let mut t = T::new(&[("d", "expect fork\nexec /bin/daemon")]);
    let tok = t.start("d", &[]);
    let id = inst_of(&t, "d");
    t.h.procs.insert(id, vec![5000]);
    t.h.unreadable.push(id);
    t.exit("d", Main, Exited(0));
    t.advance(SETTLE_MS);
    assert!(
        t.reply(tok).is_none(),
        "decided without knowing the members"
    );
    t.h.unreadable.clear();
    t.advance(50);
    assert_eq!(
        ok_instances(t.reply(tok)),
        ["d start/running, process 5000"]
    );
}

#[test]
fn main_dying_kills_the_rest_then_respawns() {
    let mut t = T::new(&[("r", "respawn\nexec /bin/r")]);
    t.start("r", &[]);
    let id = inst_of(&t, "r");
    t.h.procs.insert(id, vec![950]);
    t.exit("r", Main, Exited(1));
    assert_eq!(t.h.signals, [(950, Signal::TERM)]);
    assert_eq!(
        t.spawns("r", Main),
        1,
        "not respawned while a process is left"
    );
    t.h.procs.insert(id, vec![]);
    assert!(t.e.exited(950, Signaled(15), &mut t.h));
    assert_eq!(t.spawns("r", Main), 2);
}

#[test]
fn expect_stop_is_ready_when_the_process_stops_itself() {
    let mut t = T::new(&[("s", "expect stop\nexec /bin/s")]);
    let tok = t.start("s", &[]);
    assert!(t.reply(tok).is_none());
    let pid = t.pid("s", Main);
    t.e.stopped(pid, &mut t.h);
    assert_eq!(t.h.signals, [(pid, Signal(18))]);
    assert_eq!(
        ok_instances(t.reply(tok)),
        [format!("s start/running, process {pid}")]
    );
}

#[test]
fn deadlines_cover_exit_tracking() {
    let mut t = T::new(&[("f", "expect daemon\nstart timeout 3\nexec /bin/fg")]);
    t.start("f", &[]);
    assert_eq!(t.e.next_deadline(), Some(3000));
    let mut t = T::new(&[("d", "expect fork 2\nexec /bin/d")]);
    t.start("d", &[]);
    let id = inst_of(&t, "d");
    t.h.procs.insert(id, vec![10]);
    t.advance(100);
    t.exit("d", Main, Exited(0));
    // The rest of the chain has until the launch deadline, counted from the spawn.
    assert_eq!(
        t.e.next_deadline(),
        Some(u64::from(LAUNCH_TIMEOUT_S) * 1000)
    );
}

#[test]
fn expect_notify_waits_for_ready() {
    let mut t = T::new(&[(
        "n",
        "expect notify\nstart timeout 5\nwatchdog 2\nexec /bin/n",
    )]);
    let tok = t.start("n", &[]);
    let id = inst_of(&t, "n");
    let main = t.pid("n", Main);
    assert!(t.spec("n", Main).notify);
    assert_eq!(
        get(&t.spec("n", Main).env, "WATCHDOG_USEC"),
        Some("2000000")
    );
    t.e.notify(id, 1000, "STATUS=warming up\nREADY=0", &mut t.h);
    assert!(t.reply(tok).is_none());
    // A MAINPID outside the job from a non-root sender is ignored; inside is taken.
    t.e.notify(id, 1000, "MAINPID=4242", &mut t.h);
    t.h.procs.insert(id, vec![main, 4343]);
    t.e.notify(id, 1000, "MAINPID=4343\nREADY=1", &mut t.h);
    assert_eq!(
        ok_instances(t.reply(tok)),
        ["n start/running, process 4343"]
    );
    let v = t.cmd(Command::Status {
        job: "n".into(),
        instance: None,
        env: vec![],
        all: false,
    });
    match t.reply(v) {
        Some(Response::Ok {
            body: Body::Instances(i),
        }) => {
            assert_eq!(i[0].notes[0], "STATUS=warming up");
        }
        other => panic!("{other:?}"),
    }
    // The watchdog: WATCHDOG=1 keeps it; silence aborts the main process.
    t.advance(1500);
    t.e.notify(id, 1000, "WATCHDOG=1", &mut t.h);
    t.advance(1500);
    assert!(t.h.signals.is_empty());
    t.advance(600);
    assert_eq!(t.h.signals, [(4343, Signal(6))]);
}

#[test]
fn start_timeout_fails_a_job_that_never_gets_ready() {
    let mut t = T::new(&[("n", "expect notify\nstart timeout 2\nexec /bin/n")]);
    let tok = t.start("n", &[]);
    t.advance(1999);
    assert!(t.reply(tok).is_none());
    t.advance(1);
    assert_eq!(t.h.signals, [(t.pid("n", Main), Signal::TERM)]);
    t.exit("n", Main, Signaled(15));
    assert_eq!(error(t.reply(tok)), "Job failed to start: n");
}

#[test]
fn ready_on_sources_and_events() {
    let mut t = T::new(&[(
        "r",
        "ready on file /run/r.ready and (listening tcp:8080 or r-up)\nexec /bin/r",
    )]);
    let tok = t.start("r", &[]);
    let id = inst_of(&t, "r");
    assert_eq!(
        t.status("r", &[]),
        format!("r start/spawned, process {}", t.pid("r", Main))
    );
    assert_eq!(t.e.pending_sources().len(), 2);
    t.e.source_state(
        id,
        &ReadySource::File("/run/r.ready".into()),
        true,
        &mut t.h,
    );
    assert!(t.reply(tok).is_none());
    assert_eq!(t.e.pending_sources().len(), 1);
    t.emit("r-up", &[]);
    assert!(ok_instances(t.reply(tok))[0].starts_with("r start/running"));
    assert!(
        t.e.pending_sources().is_empty(),
        "nothing is polled once ready"
    );
    // `started` came after readiness.
    let names: Vec<String> = t.e.take_events().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["starting", "r-up", "started"]);
}

#[test]
fn a_job_that_dies_before_it_is_ready_fails() {
    let mut t = T::new(&[("r", "ready on file /x\nexec /bin/r")]);
    let tok = t.start("r", &[]);
    t.exit("r", Main, Exited(1));
    assert_eq!(error(t.reply(tok)), "Job failed to start: r");
    assert!(t.e.pending_sources().is_empty());
    // stop works while waiting for readiness
    let tok = t.start("r", &[]);
    assert!(t.status("r", &[]).starts_with("r start/spawned"));
    let stop = t.stop("r", &[]);
    t.exit("r", Main, Signaled(15));
    assert!(matches!(t.reply(stop), Some(Response::Ok { .. })));
    assert!(t.reply(tok).is_some());
}

#[test]
fn a_notify_job_that_dies_before_ready_fails() {
    let mut t = T::new(&[("n", "expect notify\nexec /bin/n")]);
    let tok = t.start("n", &[]);
    t.exit("n", Main, Exited(2));
    assert_eq!(error(t.reply(tok)), "Job failed to start: n");
    assert_eq!(t.status("n", &[]), "n stop/waiting");
}

#[test]
fn pid_file_names_the_main_process_once_it_appears() {
    let mut t = T::new(&[(
        "p",
        "expect fork\npid file /run/p.pid\nstart timeout 3\nexec /bin/p",
    )]);
    let tok = t.start("p", &[]);
    let id = inst_of(&t, "p");
    // The oldest process is a helper; the pid file, written late, names the daemon.
    t.h.procs.insert(id, vec![800, 801]);
    t.exit("p", Main, Exited(0));
    assert!(t.reply(tok).is_none(), "waiting for the pid file");
    t.advance(100);
    assert!(t.reply(tok).is_none());
    t.h.pid_files.insert("/run/p.pid".into(), 801);
    t.advance(100);
    assert_eq!(ok_instances(t.reply(tok)), ["p start/running, process 801"]);

    // A pid file that never comes: the oldest process after the start timeout.
    let mut t = T::new(&[(
        "q",
        "expect fork\npid file /run/q.pid\nstart timeout 1\nexec /bin/q",
    )]);
    let tok = t.start("q", &[]);
    let id = inst_of(&t, "q");
    t.h.procs.insert(id, vec![900]);
    t.exit("q", Main, Exited(0));
    for _ in 0..25 {
        t.advance(50);
    }
    assert_eq!(ok_instances(t.reply(tok)), ["q start/running, process 900"]);
}

#[test]
fn track_ptrace_marks_only_the_main_process() {
    let mut t = T::new(&[
        ("p", "track ptrace\npre-start exec /bin/pre\nexec /bin/p"),
        ("c", "exec /bin/c"),
    ]);
    t.start("p", &[]);
    assert!(!t.spec("p", PreStart).ptrace);
    t.exit("p", PreStart, Exited(0));
    assert!(t.spec("p", Main).ptrace);
    t.start("c", &[]);
    assert!(!t.spec("c", Main).ptrace);
}

// ---------------------------------------------------------------- issue 9

/// Log records of the current test's thread (tests run on parallel threads).
mod logs {
    use std::cell::RefCell;

    thread_local! {
        static LINES: RefCell<Vec<(log::Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            LINES.with(|l| l.borrow_mut().push((r.level(), r.args().to_string())));
        }
        fn flush(&self) {}
    }

    static CAPTURE: Capture = Capture;

    /// Starts capturing (once per process) and forgets what this thread logged so far.
    pub fn start() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = log::set_logger(&CAPTURE);
            log::set_max_level(log::LevelFilter::Trace);
        });
        LINES.with(|l| l.borrow_mut().clear());
    }

    /// What this thread logged at `level` or more severe.
    pub fn at(level: log::Level) -> Vec<String> {
        LINES.with(|l| {
            l.borrow()
                .iter()
                .filter(|(lv, _)| *lv <= level)
                .map(|(_, m)| m.clone())
                .collect()
        })
    }
}

fn event_names(t: &mut T) -> Vec<String> {
    t.e.take_events().into_iter().map(|(n, _)| n).collect()
}

#[test]
fn issue9_item1_shutdown_starts_nothing_and_ends() {
    let mut t = T::new(&[
        ("a", "exec /bin/a"),
        ("b", "start on stopped a\nexec /bin/b"),
        ("c", "start on go\nexec /bin/c"),
        ("r", "respawn\nexec /bin/r"),
    ]);
    t.start("a", &[]);
    t.start("r", &[]);
    t.e.stop_all(&mut t.h);
    event_names(&mut t);
    // A stops: `stopped a` is emitted and delivered, but b does not start.
    t.exit("a", Main, Signaled(15));
    assert!(event_names(&mut t).contains(&"stopped".to_string()));
    assert_eq!(t.spawns("b", Main), 0, "nothing starts while shutting down");
    // The respawning job dies: no respawn.
    t.exit("r", Main, Exited(1));
    assert_eq!(t.spawns("r", Main), 1, "no respawn while shutting down");
    assert!(t.e.is_idle(), "every instance is gone");
    // `emit` is still answered; what it would start is not started.
    let tok = t.emit("go", &[]);
    assert!(matches!(t.reply(tok), Some(Response::Ok { .. })));
    assert_eq!(t.spawns("c", Main), 0);
    // Neither is a `start`.
    let tok = t.start("c", &[]);
    assert_eq!(error(t.reply(tok)), "Shutting down: not starting c");
    assert!(t.e.is_idle());
}

#[test]
fn issue9_item2_start_in_pre_stop_cancels_the_stop_without_a_second_started() {
    let mut t = T::new(&[(
        "p",
        "pre-stop exec /bin/ps\npost-stop exec /bin/po\nexec /bin/p",
    )]);
    t.start("p", &["K=1"]);
    let main = t.pid("p", Main);
    event_names(&mut t);
    let stop = t.stop("p", &[]);
    assert_eq!(t.spawns("p", PreStop), 1);
    // The pre-stop runs `start` on its own job (outsetctl does not wait from inside a job).
    let start = t.cmd(Command::Start {
        job: "p".into(),
        env: vec![],
        wait: false,
    });
    assert!(matches!(t.reply(start), Some(Response::Ok { .. })));
    t.exit("p", PreStop, Exited(0));
    assert_eq!(
        t.status("p", &[]),
        format!("p start/running, process {main}")
    );
    assert!(t.h.signals.is_empty(), "the main process was not stopped");
    assert_eq!(
        event_names(&mut t),
        Vec::<String>::new(),
        "no second `started`"
    );
    assert!(matches!(t.reply(stop), Some(Response::Ok { .. })));
    // The run keeps its environment.
    let id = inst_of(&t, "p");
    t.h.procs.insert(id, vec![main]);

    // A stop-all is never cancelled by it.
    t.e.stop_all(&mut t.h);
    assert_eq!(t.spawns("p", PreStop), 2);
    let tok = t.cmd(Command::Start {
        job: "p".into(),
        env: vec![],
        wait: false,
    });
    assert_eq!(error(t.reply(tok)), "Shutting down: not starting p");
    t.exit("p", PreStop, Exited(0));
    assert_eq!(t.h.signals, [(main, Signal::TERM)]);
    t.h.procs.insert(id, vec![]);
    t.exit("p", Main, Signaled(15));
    assert_eq!(get(&t.spec("p", PostStop).env, "K"), Some("1"));
    t.exit("p", PostStop, Exited(0));
    assert!(t.e.is_idle());
    assert!(!event_names(&mut t).contains(&"started".to_string()));
}

#[test]
fn issue9_item3_a_hung_hook_gets_the_kill_signal_then_sigkill() {
    logs::start();
    let kill = Signal(9);
    for hook in [PreStart, PostStart, PreStop, PostStop] {
        let job = format!(
            "{} exec /bin/hang\nexec /bin/m\nkill timeout 2\nkill signal INT",
            hook.as_str()
        );
        let mut t = T::new(&[("h", &job)]);
        let start = t.start("h", &[]);
        let stop = t.stop("h", &[]);
        if hook == PostStop {
            t.exit("h", Main, Signaled(2));
        }
        let pid = t.pid("h", hook);
        let before: Vec<_> = t.h.signals.clone();
        t.advance(1999);
        assert_eq!(t.h.signals, before, "{hook:?}: not before `kill timeout`");
        t.advance(1);
        let mut want = before.clone();
        want.push((pid, Signal(2)));
        assert_eq!(t.h.signals, want, "{hook:?}: the kill signal");
        t.advance(2000);
        want.push((pid, kill));
        assert_eq!(t.h.signals, want, "{hook:?}: then SIGKILL");
        t.exit("h", hook, Signaled(9));
        // The stop carries on.
        if t.h.spawned.iter().any(|(_, s, _)| s.kind == Main) && hook != PostStop {
            assert!(
                t.h.signals.contains(&(t.pid("h", Main), Signal(2))),
                "{hook:?}: main signalled"
            );
            t.exit("h", Main, Signaled(2));
        }
        assert_eq!(t.status("h", &[]), "h stop/waiting", "{hook:?}");
        assert!(ok_instances(t.reply(stop)).contains(&"h stop/waiting".to_string()));
        let _ = start;
        // A hook killed by the stop is not a failure.
        let stopped = t.e.take_events().into_iter().rfind(|(n, _)| n == "stopped");
        assert_eq!(get(&stopped.unwrap().1, "RESULT"), Some("ok"), "{hook:?}");
    }
    let warned = logs::at(log::Level::Warn);
    assert!(
        warned
            .iter()
            .any(|l| l.contains("pre-stop process") && l.contains("after the stop was asked for")),
        "{warned:?}"
    );
    assert!(warned.iter().any(|l| l.contains("SIGKILL")), "{warned:?}");
}

#[test]
fn a_hook_that_ends_in_time_is_left_alone() {
    let mut t = T::new(&[("h", "pre-stop exec /bin/ps\nexec /bin/m\nkill timeout 2")]);
    t.start("h", &[]);
    t.stop("h", &[]);
    t.advance(1000);
    t.exit("h", PreStop, Exited(0));
    let main = t.pid("h", Main);
    assert_eq!(t.h.signals, [(main, Signal::TERM)]);
    t.advance(5000);
    assert!(
        !t.h.signals.contains(&(t.pid("h", PreStop), Signal(9))),
        "no deadline left behind"
    );
}

#[test]
fn issue9_item4_every_readiness_wait_has_a_default_start_timeout() {
    let file = ReadySource::File("/run/x".into());
    let _ = file;
    for (job, text) in [
        ("n", "expect notify\nexec /bin/n"),
        ("s", "expect stop\nexec /bin/s"),
        ("r", "ready on file /run/x\nexec /bin/r"),
    ] {
        let mut t = T::new(&[(job, text)]);
        let tok = t.start(job, &[]);
        t.advance(u64::from(READY_TIMEOUT_S) * 1000 - 1);
        assert!(t.reply(tok).is_none(), "{job}: still waiting");
        t.advance(1);
        assert_eq!(t.h.signals, [(t.pid(job, Main), Signal::TERM)], "{job}");
        t.exit(job, Main, Signaled(15));
        assert_eq!(error(t.reply(tok)), format!("Job failed to start: {job}"));
    }
    // After a launch chain, `ready on` gets the timeout too.
    let mut t = T::new(&[("f", "expect fork\nready on file /run/x\nexec /bin/f")]);
    let tok = t.start("f", &[]);
    let id = inst_of(&t, "f");
    t.h.procs.insert(id, vec![800]);
    t.exit("f", Main, Exited(0));
    assert_eq!(t.e.pending_sources().len(), 1);
    t.advance(u64::from(READY_TIMEOUT_S) * 1000);
    assert_eq!(t.h.signals, [(800, Signal::TERM)]);
    t.h.procs.insert(id, vec![]);
    assert!(t.e.exited(800, Signaled(15), &mut t.h));
    assert_eq!(error(t.reply(tok)), "Job failed to start: f");
}

#[test]
fn issue9_item6_started_waits_for_the_counted_exits() {
    // The middle process of a daemon chain exits 3 s after the launcher.
    for text in [
        "expect daemon\nexec /bin/d",
        "expect exit 2\nstart timeout 30\nexec /bin/d",
    ] {
        let mut t = T::new(&[("d", text)]);
        let tok = t.start("d", &[]);
        let id = inst_of(&t, "d");
        t.h.procs.insert(id, vec![600, 601]);
        t.exit("d", Main, Exited(0));
        t.advance(3000);
        assert!(t.reply(tok).is_none(), "{text}: the middle one still runs");
        assert!(!event_names(&mut t).contains(&"started".to_string()));
        t.h.procs.insert(id, vec![601]);
        assert!(t.e.exited(600, Exited(0), &mut t.h));
        assert_eq!(ok_instances(t.reply(tok)), ["d start/running, process 601"]);
    }
}

#[test]
fn issue9_item6_a_counted_process_that_fails_fails_the_start() {
    let mut t = T::new(&[("d", "expect exit 2\nstart timeout 30\nexec /bin/d")]);
    let tok = t.start("d", &[]);
    let id = inst_of(&t, "d");
    t.h.procs.insert(id, vec![600, 601]);
    t.exit("d", Main, Exited(0));
    t.advance(3000);
    t.h.procs.insert(id, vec![601]);
    assert!(t.e.exited(600, Exited(1), &mut t.h));
    assert!(t.reply(tok).is_none(), "what is left is stopped first");
    assert_eq!(t.h.signals, [(601, Signal::TERM)]);
    t.h.procs.insert(id, vec![]);
    assert!(t.e.exited(601, Signaled(15), &mut t.h));
    assert_eq!(error(t.reply(tok)), "Job failed to start: d");
    let stopped = t.e.take_events().into_iter().rfind(|(n, _)| n == "stopped");
    assert_eq!(get(&stopped.unwrap().1, "EXIT_STATUS"), Some("1"));
}

#[test]
fn issue9_item6_a_wrong_count_ends_at_the_start_timeout_and_names_the_stanza() {
    logs::start();
    // `expect daemon` on a program that forks once.
    let mut t = T::new(&[("d", "expect daemon\nstart timeout 5\nexec /bin/d")]);
    let tok = t.start("d", &[]);
    let id = inst_of(&t, "d");
    t.h.procs.insert(id, vec![700]);
    t.advance(1000);
    t.exit("d", Main, Exited(0));
    t.advance(3999);
    assert!(t.reply(tok).is_none());
    t.advance(1);
    assert_eq!(ok_instances(t.reply(tok)), ["d start/running, process 700"]);
    let warned = logs::at(log::Level::Warn);
    assert!(
        warned.iter().any(
            |l| l.contains("`expect daemon`") && l.contains("`expect fork` would have matched")
        ),
        "{warned:?}"
    );
}

#[test]
fn issue9_item13_status_lines_match_initctl() {
    let mut t = T::new(&[
        (
            "j",
            "pre-start exec /bin/a\npost-start exec /bin/b\npre-stop exec /bin/c\npost-stop exec /bin/d\nexec /bin/m",
        ),
        ("q", "post-start exec /bin/b"),
        ("w", "instance $N\nexec /bin/w"),
    ]);
    t.start("j", &[]);
    let pid = |t: &T, k| t.pid("j", k);
    assert_eq!(
        t.status("j", &[]),
        format!("j start/pre-start, process {}", pid(&t, PreStart))
    );
    t.exit("j", PreStart, Exited(0));
    assert_eq!(
        t.status("j", &[]),
        format!(
            "j start/post-start, process {}\n\tpost-start process {}",
            pid(&t, Main),
            pid(&t, PostStart)
        )
    );
    t.exit("j", PostStart, Exited(0));
    t.stop("j", &[]);
    assert_eq!(
        t.status("j", &[]),
        format!(
            "j stop/pre-stop, process {}\n\tpre-stop process {}",
            pid(&t, Main),
            pid(&t, PreStop)
        )
    );
    t.exit("j", PreStop, Exited(0));
    t.exit("j", Main, Signaled(15));
    assert_eq!(
        t.status("j", &[]),
        format!("j stop/post-stop, process {}", pid(&t, PostStop))
    );
    // A post-start without a main process is shown the way initctl shows it.
    t.start("q", &[]);
    assert_eq!(
        t.status("q", &[]),
        format!(
            "q start/post-start, (post-start) process {}",
            t.pid("q", PostStart)
        )
    );
    // Unknown instances are named by their instance name alone.
    let tok = t.stop("w", &["N=x"]);
    assert_eq!(error(t.reply(tok)), "Unknown instance: x");
    let tok = t.stop("j", &[]);
    let _ = tok;
}

#[test]
fn issue9_item16_a_repeated_event_for_a_running_job_is_not_a_warning() {
    logs::start();
    let mut t = T::new(&[("j", "start on tick\nexec /bin/j")]);
    for _ in 0..3 {
        t.emit("tick", &[]);
    }
    assert_eq!(t.spawns("j", Main), 1);
    let warned = logs::at(log::Level::Warn);
    assert!(warned.is_empty(), "{warned:?}");
    assert!(
        logs::at(log::Level::Debug)
            .iter()
            .any(|l| l.contains("already running"))
    );
}

/// Issue 12 item 3: the engine decides trust. A pid file (whatever the host read from it)
/// naming a process outside the job is never adopted nor signalled; the oldest process of
/// the job is taken once the wait for the file ends. The same for MAINPID from root.
#[test]
fn issue12_item3_outsiders_named_by_pid_file_or_mainpid_are_never_adopted() {
    let mut t = T::new(&[(
        "p",
        "expect fork\npid file /run/p.pid\nstart timeout 1\nexec /bin/p",
    )]);
    let tok = t.start("p", &[]);
    let id = inst_of(&t, "p");
    t.h.procs.insert(id, vec![800]);
    // A stale file: 4242 is some other process.
    t.h.pid_files.insert("/run/p.pid".into(), 4242);
    t.exit("p", Main, Exited(0));
    for _ in 0..25 {
        t.advance(50);
    }
    assert_eq!(ok_instances(t.reply(tok)), ["p start/running, process 800"]);
    let stop = t.stop("p", &[]);
    t.h.procs.insert(id, vec![]);
    assert!(t.e.exited(800, Exited(0), &mut t.h));
    t.e.after_reap(&mut t.h);
    assert!(t.reply(stop).is_some());
    assert!(
        t.h.signals.iter().all(|(pid, _)| *pid != 4242),
        "{:?}",
        t.h.signals
    );

    let mut t = T::new(&[("n", "expect notify\nexec /bin/n")]);
    let tok = t.start("n", &[]);
    let id = inst_of(&t, "n");
    let main = t.pid("n", Main);
    t.h.procs.insert(id, vec![main]);
    t.e.notify(id, 0, "MAINPID=4242\nREADY=1", &mut t.h);
    assert_eq!(
        ok_instances(t.reply(tok)),
        [format!("n start/running, process {main}")]
    );
}

/// Issue 11 item 4: the environment of the `stop on` events that stopped a run (their
/// variables and UPSTART_STOP_EVENTS) reaches pre-stop and post-stop, and a job without
/// either, which no longer keeps it, stops on the same event all the same; so does a
/// `stop` command's environment.
#[test]
fn issue11_item4_stop_env_reaches_pre_and_post_stop() {
    let mut t = T::new(&[
        (
            "hooked",
            "start on go\nstop on halt\nexec /bin/h\npre-stop exec /bin/ps\npost-stop exec /bin/pp",
        ),
        ("plain", "start on go\nstop on halt\nexec /bin/p"),
    ]);
    t.emit("go", &[]);
    let plain = t.pid("plain", Main);
    t.emit("halt", &["WHY=test"]);
    let pre = &t.spec("hooked", PreStop).env;
    assert_eq!(get(pre, "UPSTART_STOP_EVENTS"), Some("halt"));
    assert_eq!(get(pre, "WHY"), Some("test"));
    t.exit("hooked", PreStop, Exited(0));
    t.exit("hooked", Main, Signaled(15));
    let post = &t.spec("hooked", PostStop).env;
    assert_eq!(get(post, "UPSTART_STOP_EVENTS"), Some("halt"));
    assert_eq!(get(post, "WHY"), Some("test"));
    t.exit("hooked", PostStop, Exited(0));
    assert!(t.h.signals.contains(&(plain, Signal::TERM)));
    t.exit("plain", Main, Signaled(15));
    assert_eq!(t.status("hooked", &[]), "hooked stop/waiting");
    assert_eq!(t.status("plain", &[]), "plain stop/waiting");

    // A `stop` command's environment reaches post-stop too.
    t.emit("go", &[]);
    t.stop("hooked", &["BY=hand"]);
    t.exit("hooked", PreStop, Exited(0));
    t.exit("hooked", Main, Signaled(15));
    assert_eq!(t.spawns("hooked", PostStop), 2);
    let post = &t.spec("hooked", PostStop).env;
    assert_eq!(get(post, "BY"), Some("hand"));
    assert_eq!(get(post, "UPSTART_STOP_EVENTS"), None);
}

/// Issue 17 item 5: every spawn of a job carries its resource plan (the host applies it when
/// it makes the instance's cgroup); a job without `cgroup` or `resource` stanzas has none.
#[test]
fn issue17_item5_spawns_carry_the_resource_plan() {
    let mut t = T::new(&[
        (
            "r",
            "resource memory max 64M required\ncgroup cpu cpu.shares 512\n\
             pre-start exec /bin/p\nexec /bin/r",
        ),
        ("plain", "exec /bin/plain"),
    ]);
    t.start("r", &[]);
    let pre = t.spec("r", ProcessKind::PreStart).resources.clone();
    assert_eq!(pre.controllers, ["cpu", "memory"]);
    let files: Vec<_> = pre
        .settings
        .iter()
        .map(|s| (s.file.as_str(), s.value.as_str(), s.required))
        .collect();
    assert_eq!(
        files,
        [
            ("cpu.weight", "20", false),
            ("memory.max", "67108864", true)
        ]
    );
    t.exit("r", ProcessKind::PreStart, ExitStatus::Exited(0));
    assert_eq!(t.spec("r", ProcessKind::Main).resources, pre);
    t.start("plain", &[]);
    assert!(t.spec("plain", ProcessKind::Main).resources.is_empty());
}
