//! Issue 16 item 2: the job environment table (`list-env`, `get-env`, `set-env`,
//! `unset-env`, `reset-env`), driven without processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::testing::FakeHost as Host;
use outset_engine::*;
use outset_job::{ProcessKind, parse_job};
use outset_proto::{Body, Command, Response};

struct T {
    e: Engine,
    h: Host,
    token: u64,
}

fn engine(jobs: &[(&str, &str)], fixed: bool) -> T {
    let mut e = Engine::new(Options {
        base_env: vec![
            ("PATH".into(), DEFAULT_PATH.into()),
            ("TERM".into(), "linux".into()),
        ],
        daemon_env: Vec::new(),
        version: "test".into(),
        track_ptrace: false,
        confirm_spawns: false,
        fixed_env_table: fixed,
    });
    let mut h = Host::default();
    let configs = jobs.iter().map(|(n, t)| parse_job(n, t).unwrap()).collect();
    e.set_jobs(configs, &mut h);
    T { e, h, token: 0 }
}

impl T {
    fn cmd(&mut self, c: Command) -> Response {
        self.token += 1;
        self.e.command(c, ReplyToken(self.token), &mut self.h);
        self.h.replies.get(&self.token).cloned().unwrap()
    }

    fn set(&mut self, vars: &[&str], retain: bool, job: Option<(&str, &str)>) -> Response {
        self.cmd(Command::SetEnv {
            env: vars.iter().map(|s| s.to_string()).collect(),
            retain,
            job: job.map(|j| j.0.to_string()),
            instance: job.map(|j| j.1.to_string()),
        })
    }

    fn list(&mut self, job: Option<(&str, &str)>) -> Vec<String> {
        match self.cmd(Command::ListEnv {
            job: job.map(|j| j.0.to_string()),
            instance: job.map(|j| j.1.to_string()),
        }) {
            Response::Ok { body: Body::Env(v) } => v,
            other => panic!("{other:?}"),
        }
    }

    fn get(&mut self, name: &str, job: Option<(&str, &str)>) -> Result<String, String> {
        match self.cmd(Command::GetEnv {
            name: name.into(),
            job: job.map(|j| j.0.to_string()),
            instance: job.map(|j| j.1.to_string()),
        }) {
            Response::Ok {
                body: Body::Value(v),
            } => Ok(v),
            Response::Error { message } => Err(message),
            other => panic!("{other:?}"),
        }
    }

    fn start(&mut self, job: &str, env: &[&str]) {
        match self.cmd(Command::Start {
            job: job.into(),
            env: env.iter().map(|s| s.to_string()).collect(),
            wait: false,
        }) {
            Response::Ok { .. } => {}
            other => panic!("{other:?}"),
        }
    }

    fn stop(&mut self, job: &str) {
        self.cmd(Command::Stop {
            job: job.into(),
            instance: None,
            env: vec![],
            wait: false,
        });
        let pid = self.pid(job, ProcessKind::Main);
        self.e.exited(pid, ExitStatus::Signaled(15), &mut self.h);
    }

    fn pid(&self, job: &str, kind: ProcessKind) -> u32 {
        self.spawn(job, kind).2
    }

    fn spawn(&self, job: &str, kind: ProcessKind) -> &(InstanceId, SpawnSpec, u32) {
        self.h
            .spawned
            .iter()
            .rev()
            .find(|(_, s, _)| s.job == job && s.kind == kind)
            .unwrap()
    }

    /// The environment of the latest `kind` process of `job`.
    fn env_of(&self, job: &str, kind: ProcessKind) -> Env {
        self.spawn(job, kind).1.env.clone()
    }
}

fn var<'a>(env: &'a Env, key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn error(r: Response) -> String {
    match r {
        Response::Error { message } => message,
        other => panic!("expected an error, got {other:?}"),
    }
}

const JOB: &str = "env A=stanza\nenv B=stanza\nexec /bin/j\n";

#[test]
fn issue16_item2_list_env_is_the_table_and_set_env_reaches_later_jobs() {
    let mut t = engine(&[("j", JOB)], false);
    assert_eq!(
        t.list(None),
        [format!("PATH={DEFAULT_PATH}"), "TERM=linux".to_string()]
    );
    assert_eq!(
        t.set(&["A=table", "C=table", "BARE"], false, None),
        Response::Ok { body: Body::Done }
    );
    assert_eq!(t.get("C", None).unwrap(), "table");
    // A bare name is set empty, as Upstart's SetEnvList does.
    assert_eq!(t.get("BARE", None).unwrap(), "");
    t.start("j", &["B=cmd"]);
    let env = t.env_of("j", ProcessKind::Main);
    // Upstart's order: the table, then `env` stanzas, then the start environment.
    assert_eq!(var(&env, "C"), Some("table"));
    assert_eq!(var(&env, "A"), Some("stanza"));
    assert_eq!(var(&env, "B"), Some("cmd"));
    assert_eq!(var(&env, "BARE"), Some(""));
    assert_eq!(var(&env, "TERM"), Some("linux"));
}

#[test]
fn issue16_item2_retain_keeps_a_set_value() {
    let mut t = engine(&[], false);
    t.set(&["X=1"], false, None);
    t.set(&["X=2", "Y=2"], true, None);
    assert_eq!(t.get("X", None).unwrap(), "1");
    assert_eq!(t.get("Y", None).unwrap(), "2");
    t.set(&["X=3"], false, None);
    assert_eq!(t.get("X", None).unwrap(), "3");
}

#[test]
fn issue16_item2_unset_and_reset_and_their_errors() {
    let mut t = engine(&[], false);
    assert_eq!(t.get("NOPE", None).unwrap_err(), "No such variable: NOPE");
    assert_eq!(
        t.get("", None).unwrap_err(),
        "Variable may not be empty string"
    );
    t.set(&["X=1"], false, None);
    let r = t.cmd(Command::UnsetEnv {
        names: vec!["X".into()],
        job: None,
        instance: None,
    });
    assert_eq!(r, Response::Ok { body: Body::Done });
    assert!(t.get("X", None).is_err());
    let r = t.cmd(Command::UnsetEnv {
        names: vec!["X".into()],
        job: None,
        instance: None,
    });
    assert_eq!(error(r), "No such variable: X");
    t.set(&["Y=1"], false, None);
    let r = t.cmd(Command::UnsetEnv {
        names: vec!["TERM".into()],
        job: None,
        instance: None,
    });
    assert_eq!(r, Response::Ok { body: Body::Done });
    t.cmd(Command::ResetEnv {
        job: None,
        instance: None,
    });
    assert_eq!(
        t.list(None),
        [format!("PATH={DEFAULT_PATH}"), "TERM=linux".to_string()]
    );
}

#[test]
fn issue16_item2_pid1_table_cannot_change() {
    let mut t = engine(&[("j", JOB)], true);
    for r in [
        t.set(&["X=1"], false, None),
        t.cmd(Command::UnsetEnv {
            names: vec!["PATH".into()],
            job: None,
            instance: None,
        }),
        t.cmd(Command::ResetEnv {
            job: None,
            instance: None,
        }),
    ] {
        assert_eq!(error(r), "Not permissible to modify PID 1 job environment");
    }
    // Reading is allowed, and so is a running job's own environment.
    assert_eq!(t.list(None).len(), 2);
    t.start("j", &[]);
    assert_eq!(
        t.set(&["X=1"], false, Some(("j", ""))),
        Response::Ok { body: Body::Done }
    );
}

#[test]
fn issue16_item2_a_running_instance_keeps_the_table_it_started_with() {
    let mut t = engine(
        &[("j", "pre-stop exec /bin/pre-stop\nexec /bin/j\n")],
        false,
    );
    t.set(&["X=old"], false, None);
    t.start("j", &[]);
    t.set(&["X=new"], false, None);
    t.cmd(Command::UnsetEnv {
        names: vec!["TERM".into()],
        job: None,
        instance: None,
    });
    // The instance's next process (pre-stop) still has what its run started with.
    t.cmd(Command::Stop {
        job: "j".into(),
        instance: None,
        env: vec![],
        wait: false,
    });
    let env = t.env_of("j", ProcessKind::PreStop);
    assert_eq!(var(&env, "X"), Some("old"));
    assert_eq!(var(&env, "TERM"), Some("linux"));
    let pre = t.pid("j", ProcessKind::PreStop);
    t.e.exited(pre, ExitStatus::Exited(0), &mut t.h);
    let main = t.pid("j", ProcessKind::Main);
    t.e.exited(main, ExitStatus::Signaled(15), &mut t.h);
    // Its next run is based on the table as it is now.
    t.start("j", &[]);
    let env = t.env_of("j", ProcessKind::Main);
    assert_eq!(var(&env, "X"), Some("new"));
    assert_eq!(var(&env, "TERM"), None);
}

#[test]
fn issue16_item2_inside_a_job_the_instance_env_is_the_table() {
    let mut t = engine(&[("w", "instance $N\nenv A=stanza\nexec /bin/w\n")], false);
    t.start("w", &["N=one"]);
    let own = Some(("w", "one"));
    let list = t.list(own);
    assert!(list.contains(&"A=stanza".to_string()), "{list:?}");
    assert!(list.contains(&"UPSTART_JOB=w".to_string()), "{list:?}");
    assert!(
        list.contains(&"UPSTART_INSTANCE=one".to_string()),
        "{list:?}"
    );
    assert_eq!(t.get("N", own).unwrap(), "one");
    // set-env from the main process reaches the instance's later processes, not the
    // global table.
    t.set(&["FROM_MAIN=1", "A=changed"], false, own);
    assert!(t.get("FROM_MAIN", None).is_err());
    assert_eq!(t.get("A", own).unwrap(), "changed");
    t.cmd(Command::UnsetEnv {
        names: vec!["A".into()],
        job: Some("w".into()),
        instance: Some("one".into()),
    });
    assert!(t.get("A", own).is_err());
    assert_eq!(t.get("FROM_MAIN", own).unwrap(), "1");
    t.cmd(Command::ResetEnv {
        job: Some("w".into()),
        instance: Some("one".into()),
    });
    assert_eq!(t.get("A", own).unwrap(), "stanza");
    assert!(t.get("FROM_MAIN", own).is_err());
    assert_eq!(t.get("UPSTART_JOB", own).unwrap(), "w");
    // Errors name what is missing, as Upstart's.
    assert_eq!(
        t.get("A", Some(("nope", ""))).unwrap_err(),
        "Unknown job: nope"
    );
    assert_eq!(
        t.get("A", Some(("w", "two"))).unwrap_err(),
        "Unknown instance: two"
    );
    assert_eq!(
        t.get("A", Some(("", ""))).unwrap_err(),
        "Job may not be empty string"
    );
}

#[test]
fn issue16_item2_set_env_in_pre_start_reaches_the_main_process() {
    let mut t = engine(&[("p", "pre-start exec /bin/pre\nexec /bin/main\n")], false);
    t.start("p", &[]);
    // The pre-start process runs `initctl set-env FROM_PRE=1` (job and instance from its
    // UPSTART_JOB and UPSTART_INSTANCE).
    t.set(&["FROM_PRE=1"], false, Some(("p", "")));
    let pre = t.pid("p", ProcessKind::PreStart);
    t.e.exited(pre, ExitStatus::Exited(0), &mut t.h);
    let env = t.env_of("p", ProcessKind::Main);
    assert_eq!(var(&env, "FROM_PRE"), Some("1"));
    assert_eq!(var(&env, "UPSTART_JOB"), Some("p"));
    t.stop("p");
}

#[test]
fn issue16_item3_usage_is_the_stanza() {
    let mut t = engine(
        &[
            ("u", "usage \"u N=<name>\"\nexec /bin/u\n"),
            ("v", "exec /bin/v\n"),
        ],
        false,
    );
    assert_eq!(
        t.cmd(Command::Usage { job: "u".into() }),
        Response::Ok {
            body: Body::Value("u N=<name>".into())
        }
    );
    assert_eq!(
        t.cmd(Command::Usage { job: "v".into() }),
        Response::Ok {
            body: Body::Value(String::new())
        }
    );
    assert_eq!(
        error(t.cmd(Command::Usage { job: "w".into() })),
        "Unknown job: w"
    );
}
