//! The engine driven without processes: a fake host records spawns, signals and replies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use outset_engine::*;
use outset_job::{ProcessKind, Signal, parse_job};
use outset_proto::{Body, Command, Response};

#[derive(Default)]
struct Host {
    next_pid: u32,
    spawned: Vec<(InstanceId, SpawnSpec, u32)>,
    signals: Vec<(u32, Signal)>,
    killed: Vec<InstanceId>,
    removed: Vec<InstanceId>,
    replies: HashMap<u64, Response>,
    fail_spawn: Vec<String>,
}

impl Effects for Host {
    fn spawn(&mut self, inst: InstanceId, spec: &SpawnSpec) -> Result<u32, String> {
        if self
            .fail_spawn
            .contains(&format!("{}:{}", spec.job, spec.kind.as_str()))
        {
            return Err("No such file or directory".into());
        }
        self.next_pid += 1;
        let pid = 1000 + self.next_pid;
        self.spawned.push((inst, spec.clone(), pid));
        Ok(pid)
    }
    fn signal(&mut self, _: InstanceId, pid: u32, sig: Signal, _group: bool) {
        self.signals.push((pid, sig));
    }
    fn kill_all(&mut self, inst: InstanceId) {
        self.killed.push(inst);
    }
    fn instance_removed(&mut self, inst: InstanceId) {
        self.removed.push(inst);
    }
    fn reply(&mut self, token: ReplyToken, response: Response) {
        assert!(
            self.replies.insert(token.0, response).is_none(),
            "two replies to {token:?}"
        );
    }
}

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
        format!(
            "web start/pre-start\n\tpre-start process {}",
            t.pid("web", PreStart)
        )
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
    assert_eq!(error(t.reply(tok)), "Unknown instance: w (three)");
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
    assert_eq!(error(t.reply(tok)), "Unknown instance: b");
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
