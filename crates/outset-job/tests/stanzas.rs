//! One test per stanza, per lexical rule and per error class.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_job::*;

fn job(text: &str) -> JobConfig {
    parse_job("t", text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The error's `line:col: message`.
fn error(text: &str) -> String {
    parse_job("t", text).map(|_| ()).unwrap_err().to_string()
}

fn ev(name: &str) -> Expr {
    Expr::Event(EventMatch {
        name: name.into(),
        args: vec![],
    })
}

#[test]
fn informational_stanzas() {
    let j = job("description \"A job\"\nauthor 'Me <me@x>'\nversion 1.2\nusage \"start t X=1\"\n");
    assert_eq!(j.description.as_deref(), Some("A job"));
    assert_eq!(j.author.as_deref(), Some("Me <me@x>"));
    assert_eq!(j.version.as_deref(), Some("1.2"));
    assert_eq!(j.usage.as_deref(), Some("start t X=1"));
    assert_eq!(error("description a b"), "1:15: unexpected token `b`");
    assert_eq!(
        error("description"),
        "1:12: expected a description after `description`"
    );
    assert_eq!(
        error("description \"\""),
        "1:13: expected a token, found an empty one"
    );
}

#[test]
fn emits_export_import_tmpfiles_accumulate() {
    let j = job(
        "emits a b\nemits *-device-added\nexport X\nexport Y Z\nimport A\nimport B\ntmpfiles /x.conf\n",
    );
    assert_eq!(j.emits, ["a", "b", "*-device-added"]);
    assert_eq!(j.export, ["X", "Y", "Z"]);
    assert_eq!(j.imports, ["A", "B"]);
    assert_eq!(j.tmpfiles, ["/x.conf"]);
    assert!(error("emits").ends_with("expected an event name after `emits`"));
}

#[test]
fn start_and_stop_on() {
    let j = job("start on a\nstop on b or c\n");
    assert_eq!(j.start_on, Some(ev("a")));
    assert_eq!(
        j.stop_on,
        Some(Expr::Or(Box::new(ev("b")), Box::new(ev("c"))))
    );
    // The last one wins.
    assert_eq!(job("start on a\nstart on b").start_on, Some(ev("b")));
    assert_eq!(
        error("start"),
        "1:6: expected `on` or `timeout` after `start`"
    );
    assert_eq!(error("start at a"), "1:7: unknown stanza `start at`");
    assert_eq!(error("stop on"), "1:8: expected event");
}

#[test]
fn manual_discards_earlier_start_on() {
    let j = job("start on a\nmanual\n");
    assert!(j.manual);
    assert_eq!(j.start_on, None);
    let j = job("manual\nstart on a\n");
    assert_eq!(j.start_on, Some(ev("a")));
    assert_eq!(error("manual now"), "1:8: unexpected token `now`");
}

#[test]
fn exec_and_script_replace_each_other() {
    let j = job("exec /bin/a -x 'q r'\n");
    assert_eq!(j.main, Some(Process::Exec("/bin/a -x 'q r'".into())));
    let j = job("exec /bin/a\nscript\n  echo hi\nend script\n");
    assert_eq!(j.main, Some(Process::Script("echo hi\n".into())));
    let j = job("script\n  echo hi\nend script\nexec /bin/b # comment\n");
    assert_eq!(j.main, Some(Process::Exec("/bin/b".into())));
    assert_eq!(error("exec\n"), "1:5: expected a command after `exec`");
    assert_eq!(
        error("exec   # nothing\n"),
        "1:5: expected a command after `exec`"
    );
    assert_eq!(
        error("script foo\nend script\n"),
        "1:8: unexpected token `foo`"
    );
}

#[test]
fn process_stanzas() {
    let j = job(
        "pre-start exec /bin/pre\npost-start script\n\tsleep 1\nend script\npre-stop exec /bin/ps\npost-stop script # c\n  a\n    b\n  end script # post-stop\n",
    );
    assert_eq!(j.pre_start, Some(Process::Exec("/bin/pre".into())));
    assert_eq!(j.post_start, Some(Process::Script("sleep 1\n".into())));
    assert_eq!(j.pre_stop, Some(Process::Exec("/bin/ps".into())));
    assert_eq!(j.post_stop, Some(Process::Script("a\n  b\n".into())));
    assert_eq!(
        error("pre-start\n"),
        "1:10: expected `exec` or `script` after `pre-start`"
    );
    assert_eq!(
        error("post-stop run x\n"),
        "1:11: expected `exec` or `script` after `post-stop`, found `run`"
    );
}

#[test]
fn script_blocks() {
    // Ends at a line holding only `end script`; other lines that mention it stay.
    let j = job("script\n  echo end script now\n  # end script\nend script");
    assert_eq!(
        j.main,
        Some(Process::Script(
            "echo end script now\n# end script\n".into()
        ))
    );
    // Blank lines and mixed indentation.
    let j = job("script\n\tif x; then\n\t\ty\n\n\tfi\nend script\n");
    assert_eq!(
        j.main,
        Some(Process::Script("if x; then\n\ty\n\nfi\n".into()))
    );
    assert_eq!(
        error("exec x\nscript\n  echo\n"),
        "2:1: unterminated script block: no `end script` line"
    );
    assert_eq!(
        error("pre-start script"),
        "1:11: unterminated script block: no `end script` line"
    );
}

#[test]
fn task_respawn_and_limits() {
    let j = job("task\nrespawn\nrespawn\nrespawn limit 3 10 # why\n");
    assert!(j.task && j.respawn);
    assert_eq!(
        j.respawn_limit,
        RespawnLimit::Limited {
            count: 3,
            interval: 10
        }
    );
    assert_eq!(
        job("respawn limit unlimited").respawn_limit,
        RespawnLimit::Unlimited
    );
    assert!(
        !job("respawn limit 1 2").respawn,
        "a limit alone does not enable respawn"
    );
    assert_eq!(
        JobConfig::new("x").respawn_limit,
        RespawnLimit::Limited {
            count: 10,
            interval: 5
        }
    );
    assert_eq!(
        error("respawn limit 3"),
        "1:16: expected an interval in seconds after `3`"
    );
    assert_eq!(error("respawn limit x 3"), "1:15: bad number `x`");
    assert_eq!(
        error("respawn limit -1 3"),
        "1:15: `-1` is out of range (0 to 4294967295)"
    );
    assert_eq!(error("respawn limit 1 2 3"), "1:19: unexpected token `3`");
    assert_eq!(error("respawn now"), "1:9: unexpected token `now`");
}

#[test]
fn normal_exit_accumulates_codes_and_signals() {
    let j = job("normal exit 0 1\nnormal exit TERM SIGINT 40\n");
    assert_eq!(
        j.normal_exit,
        [
            ExitCode::Status(0),
            ExitCode::Status(1),
            ExitCode::Signal(Signal::TERM),
            ExitCode::Signal(Signal::INT),
            ExitCode::Status(40),
        ]
    );
    assert_eq!(
        error("normal exit 256"),
        "1:13: `256` is out of range (0 to 255)"
    );
    assert_eq!(
        error("normal exit FOO"),
        "1:13: `FOO` is neither an exit status nor a signal"
    );
    assert_eq!(
        error("normal exit"),
        "1:12: expected an exit status or signal after `exit`"
    );
    assert_eq!(error("normal x"), "1:8: unknown stanza `normal x`");
}

#[test]
fn expect_values() {
    for (text, want) in [
        ("stop", Expect::Stop),
        ("fork", Expect::Fork(1)),
        ("fork 3", Expect::Fork(3)),
        ("daemon", Expect::Daemon),
        ("none", Expect::None),
        ("notify", Expect::Notify),
        ("exit 2", Expect::Exit(2)),
    ] {
        assert_eq!(job(&format!("expect {text}")).expect, want, "{text}");
    }
    assert_eq!(
        error("expect WHAT"),
        "1:8: unknown expect value `WHAT` (stop, fork [N], daemon, none, notify or exit N)"
    );
    assert_eq!(
        error("expect #TODO"),
        "1:7: expected stop, fork, daemon, none, notify or exit after `expect`"
    );
    assert_eq!(
        error("expect exit"),
        "1:8: `expect exit` needs a count (`expect exit 1`)"
    );
    assert_eq!(
        error("expect fork 0"),
        "1:13: `0` is out of range (1 to 64)"
    );
    assert_eq!(error("expect stop 1"), "1:13: unexpected token `1`");
}

#[test]
fn signals_and_timeouts() {
    let j = job("kill signal SIGPWR\nkill timeout 300 # long\nreload signal USR1\n");
    assert_eq!(j.kill_signal, Signal(30));
    assert_eq!(j.kill_timeout, 300);
    assert_eq!(j.reload_signal, Signal(10));
    assert_eq!(job("reload signal 0").reload_signal, Signal(0));
    assert_eq!(job("kill signal HUP").kill_signal, Signal::HUP);
    let d = JobConfig::new("d");
    assert_eq!(
        (d.kill_signal, d.kill_timeout, d.reload_signal),
        (Signal::TERM, 5, Signal::HUP)
    );
    assert_eq!(error("kill signal NOPE"), "1:13: unknown signal `NOPE`");
    assert_eq!(error("kill timeout soon"), "1:14: bad number `soon`");
    assert_eq!(error("kill me"), "1:6: unknown stanza `kill me`");
    assert_eq!(
        error("reload signal"),
        "1:14: expected a signal after `signal`"
    );
}

#[test]
fn console_values() {
    assert_eq!(JobConfig::new("x").console, Console::Log);
    for (v, c) in [
        ("log", Console::Log),
        ("output", Console::Output),
        ("owner", Console::Owner),
        ("none", Console::None),
    ] {
        assert_eq!(job(&format!("console {v}")).console, c);
    }
    assert_eq!(
        error("console tty"),
        "1:9: unknown console value `tty` (log, output, owner or none)"
    );
}

/// Issue 14 item 3: `log rotate SIZE KEEP` and `log rotate off`, outset's own stanza.
#[test]
fn issue14_item3_log_rotate() {
    assert_eq!(JobConfig::new("x").log_rotate, None);
    let r = |text: &str| job(text).log_rotate.unwrap();
    assert_eq!(
        r("log rotate 10M 3"),
        LogRotate {
            max_size: 10 << 20,
            keep: 3
        }
    );
    assert_eq!(r("log rotate 4096 0").max_size, 4096);
    assert_eq!(r("log rotate 64k 1").max_size, 64 << 10);
    assert_eq!(r("log rotate 1G 2").max_size, 1 << 30);
    assert_eq!(r("log rotate off"), LogRotate::OFF);
    assert_eq!(
        error("log rotate 10X 3"),
        "1:12: bad size `10X` (bytes, or a number with K, M or G)"
    );
    assert_eq!(
        error("log rotate 0 3"),
        "1:12: bad size `0` (bytes, or a number with K, M or G)"
    );
    assert_eq!(
        error("log rotate 1M 1001"),
        "1:15: `1001` is out of range (0 to 1000)"
    );
    assert_eq!(
        error("log rotate 1M"),
        "1:14: expected how many old files to keep after `1M`"
    );
    assert_eq!(error("log size 1"), "1:5: unknown stanza `log size`");
    assert_eq!(error("log rotate off 3"), "1:16: unexpected token `3`");
    // The normalised text reads back the same.
    for text in ["log rotate 1048576 2\n", "log rotate off\n"] {
        let j = job(text);
        assert_eq!(job(&render(&j)), j);
    }
}

#[test]
fn env_forms() {
    let j = job("env A=1\nenv B=\nenv C\nenv D=\"x y\"\nenv E=''\nenv F=a=b\n");
    let want = [
        ("A", Some("1")),
        ("B", Some("")),
        ("C", None),
        ("D", Some("x y")),
        ("E", Some("")),
        ("F", Some("a=b")),
    ];
    let got: Vec<(&str, Option<&str>)> = j
        .env
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_deref()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(error("env =x"), "1:5: expected variable name before `=`");
    assert_eq!(error("env A=1 B=2"), "1:9: unexpected token `B=2`");
}

#[test]
fn credentials_and_paths() {
    let j = job("setuid nobody\nsetgid nogroup\nchdir /srv\nchroot /jail\n");
    assert_eq!(j.setuid.as_deref(), Some("nobody"));
    assert_eq!(j.setgid.as_deref(), Some("nogroup"));
    assert_eq!(j.chdir.as_deref(), Some("/srv"));
    assert_eq!(j.chroot.as_deref(), Some("/jail"));
    assert_eq!(error("setuid"), "1:7: expected a user after `setuid`");
}

#[test]
fn limits() {
    let j = job("limit nofile 1024 4096\nlimit as 1000000000 unlimited\nlimit nofile 10 20\n");
    assert_eq!(
        j.limits,
        [
            Limit {
                resource: Resource::As,
                soft: LimitValue::Value(1_000_000_000),
                hard: LimitValue::Unlimited
            },
            Limit {
                resource: Resource::Nofile,
                soft: LimitValue::Value(10),
                hard: LimitValue::Value(20)
            },
        ]
    );
    let mut count = 0;
    for r in [
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "sigpending",
        "stack",
    ] {
        let j = job(&format!("limit {r} 1 unlimited"));
        assert_eq!(j.limits.len(), 1, "{r}");
        // Issue 12 item 5: one resource table serves the parser, the renderer and the Linux
        // layer: every name parses to a resource listed in `Resource::ALL` that renders
        // back under the same name.
        let res = j.limits[0].resource;
        assert_eq!((res.name(), Resource::from_name(r)), (r, Some(res)));
        assert!(
            Resource::ALL.contains(&res),
            "{r} missing from Resource::ALL"
        );
        assert!(
            render(&j).contains(&format!("limit {r} 1 unlimited\n")),
            "{r}"
        );
        count += 1;
    }
    assert_eq!(count, Resource::ALL.len());
    assert_eq!(
        error("limit nofile 65536"),
        "1:19: expected a hard limit after `nofile`"
    );
    assert_eq!(
        error("limit files 1 2"),
        "1:7: unknown resource `files` for `limit`"
    );
    assert_eq!(
        error("limit core x 2"),
        "1:12: bad limit `x` (a number or `unlimited`)"
    );
}

#[test]
fn nice_oom_umask() {
    let j = job("nice 19\noom score -100\numask 007\n");
    assert_eq!(
        (j.nice, j.oom_score, j.umask),
        (Some(19), Some(-100), Some(0o007))
    );
    assert_eq!(job("oom score never").oom_score, Some(-1000));
    assert_eq!(job("oom never").oom_score, Some(-1000));
    assert_eq!(job("oom -17").oom_score, Some(-1000));
    assert_eq!(job("oom 15").oom_score, Some(1000));
    assert_eq!(job("oom -8").oom_score, Some(-470));
    assert_eq!(error("nice 20"), "1:6: `20` is out of range (-20 to 19)");
    assert_eq!(
        error("oom score 1001"),
        "1:11: `1001` is out of range (-1000 to 1000)"
    );
    assert_eq!(error("oom 16"), "1:5: `16` is out of range (-17 to 15)");
    assert_eq!(error("umask 0778"), "1:7: bad octal mask `0778`");
    assert_eq!(
        error("umask 1000"),
        "1:7: `1000` is out of range (0 to 0777)"
    );
}

#[test]
fn apparmor_cgroup_debug() {
    let j = job(
        "apparmor load /etc/apparmor.d/x\napparmor switch ${APP_ID}\ncgroup freezer\ncgroup memory n\ncgroup cpu shares 10\ncgroup cpu n weight 5\ndebug\n",
    );
    assert_eq!(j.apparmor_load.as_deref(), Some("/etc/apparmor.d/x"));
    assert_eq!(j.apparmor_switch.as_deref(), Some("${APP_ID}"));
    assert!(j.debug);
    let c = |c: &str, n: Option<&str>, s: Option<(&str, &str)>| CgroupStanza {
        controller: c.into(),
        name: n.map(Into::into),
        setting: s.map(|(k, v)| (k.into(), v.into())),
    };
    assert_eq!(
        j.cgroups,
        [
            c("freezer", None, None),
            c("memory", Some("n"), None),
            c("cpu", None, Some(("shares", "10"))),
            c("cpu", Some("n"), Some(("weight", "5"))),
        ]
    );
    assert_eq!(error("apparmor x"), "1:10: unknown stanza `apparmor x`");
    assert_eq!(
        error("cgroup a b c d e"),
        "1:1: `cgroup` takes CONTROLLER [NAME] [KEY VALUE]"
    );
}

#[test]
fn instance() {
    assert_eq!(
        job("instance $BUS:$DEV").instance.as_deref(),
        Some("$BUS:$DEV")
    );
    assert_eq!(
        error("instance"),
        "1:9: expected an instance name after `instance`"
    );
}

#[test]
fn outset_stanzas() {
    let j = job(
        "pid file /run/x.pid\nstart timeout 30\nwatchdog 10\ntrack ptrace\nready on file /run/ready and listening tcp:8080\n",
    );
    assert_eq!(j.pid_file.as_deref(), Some("/run/x.pid"));
    assert_eq!(j.start_timeout, Some(30));
    assert_eq!(j.watchdog, Some(10));
    assert_eq!(j.track, Track::Ptrace);
    assert_eq!(
        j.ready_on,
        Some(Expr::And(
            Box::new(Expr::Ready(ReadySource::File("/run/ready".into()))),
            Box::new(Expr::Ready(ReadySource::Listening(ListenAddr::Tcp {
                addr: None,
                port: 8080
            }))),
        ))
    );
    // `ready on` also takes events, such as one the job emits itself.
    assert_eq!(
        job("ready on my-job-ready").ready_on,
        Some(ev("my-job-ready"))
    );
    // Readiness sources are only sources in `ready on`.
    assert_eq!(
        job("start on file FILE=/x").start_on,
        Some(Expr::Event(EventMatch {
            name: "file".into(),
            args: vec![Arg::Eq("FILE".into(), "/x".into())]
        }))
    );
    assert_eq!(error("pid file"), "1:9: expected a path after `file`");
    assert_eq!(error("pid x"), "1:5: unknown stanza `pid x`");
    assert_eq!(
        error("ready on listening tcp:99999"),
        "1:20: bad port `99999` in `tcp:99999` (expected 1 to 65535)"
    );
    assert_eq!(
        error("ready on file a b"),
        "1:17: `file` takes exactly one argument"
    );
    assert_eq!(
        error("track fork"),
        "1:7: unknown track value `fork` (cgroup or ptrace)"
    );
}

#[test]
fn unknown_stanzas() {
    assert_eq!(
        error("decription \"x\""),
        "1:1: unknown stanza `decription`"
    );
    assert_eq!(
        error("exec /bin/x\n  \"exec\" y"),
        "2:3: unknown stanza `exec`"
    );
}

#[test]
fn lexical_rules() {
    // Tabs, carriage returns, comments after stanzas, blank and comment lines.
    let j = job("# header\n\n\tdescription\t\"d\"\r\n  task # comment\n#end\n");
    assert_eq!(j.description.as_deref(), Some("d"));
    assert!(j.task);
    // Backslash-newline between words and within an expression.
    let j = job("start on a \\\n  or b\nexec /bin/x \\\n   -y");
    assert_eq!(
        j.start_on,
        Some(Expr::Or(Box::new(ev("a")), Box::new(ev("b"))))
    );
    assert_eq!(j.main, Some(Process::Exec("/bin/x -y".into())));
    // A quoted value spanning lines.
    assert_eq!(
        job("env A=\"x\n   y\"").env[0].value.as_deref(),
        Some("x y")
    );
    // `start on` continues while a parenthesis is open, with comments at line ends.
    let j = job("start on (a and # first\n  (b\n   or c))\ntask");
    assert!(j.task);
    assert!(matches!(j.start_on, Some(Expr::And(_, _))));
    // No final newline.
    assert!(job("task").task);
    assert_eq!(
        job("script\n  x\nend script").main,
        Some(Process::Script("x\n".into()))
    );
    // Errors carry the position.
    assert_eq!(error("env A=\"x\n"), "1:7: unterminated quoted string");
    assert_eq!(error("exec x \"y\n"), "1:8: unterminated quoted string");
    assert_eq!(error("task\n  \\"), "2:3: backslash at end of file");
}

#[test]
fn expression_errors() {
    assert_eq!(error("start on and a"), "1:10: expected event");
    assert_eq!(error("start on a or"), "1:14: expected event");
    assert_eq!(error("start on (a"), "1:10: mismatched parentheses");
    assert_eq!(error("start on a)"), "1:11: mismatched parentheses");
    assert_eq!(error("start on a (b)"), "1:12: expected operator");
    assert_eq!(error("start on (a) b"), "1:14: expected operator");
    assert_eq!(
        error("start on a X=1 b"),
        "1:16: expected variable name before value `b` (positional arguments come first)"
    );
    // An error on a continuation line points there.
    assert_eq!(error("start on (a\n  or or b)"), "2:6: expected event");
}

#[test]
fn event_arguments() {
    let j = job(
        "start on stopped networking RESULT=failed PROCESS!=post-stop ID='05ac' RUNLEVEL=[!$RUNLEVEL]",
    );
    assert_eq!(
        j.start_on,
        Some(Expr::Event(EventMatch {
            name: "stopped".into(),
            args: vec![
                Arg::Positional("networking".into()),
                Arg::Eq("RESULT".into(), "failed".into()),
                Arg::Ne("PROCESS".into(), "post-stop".into()),
                Arg::Eq("ID".into(), "05ac".into()),
                Arg::Eq("RUNLEVEL".into(), "[!$RUNLEVEL]".into()),
            ],
        }))
    );
}

#[test]
fn override_replaces_and_accumulates() {
    let mut j = job("start on a\nexec /bin/x\nenv A=1\nkill timeout 5\n");
    parse_into(&mut j, "manual\nenv B=2\nkill timeout 30\n").unwrap();
    assert!(j.manual && j.start_on.is_none());
    assert_eq!(j.env.len(), 2);
    assert_eq!(j.kill_timeout, 30);
    assert_eq!(j.main, Some(Process::Exec("/bin/x".into())));
}

#[test]
fn exec_shell_rule() {
    assert!(!Process::Exec("/bin/sleep 10".into()).needs_shell());
    assert!(Process::Exec("/bin/a > /tmp/x".into()).needs_shell());
    assert!(Process::Exec("/bin/a $X".into()).needs_shell());
    assert!(Process::Script("x".into()).needs_shell());
}

#[test]
fn render_is_bracketed() {
    let j = job("start on a or b and (c or d X=\"1 2\")\nexec /bin/x");
    let text = render(&j);
    assert!(
        text.contains("start on ((a or b) and (c or d \"X=1 2\"))\n"),
        "{text}"
    );
    assert_eq!(parse_job("t", &text).unwrap(), j);
}

/// Issue 17 item 6: `respawn delay SECONDS [max SECONDS]`, beside `respawn limit`.
#[test]
fn issue17_item6_respawn_delay() {
    let j = job("respawn\nrespawn limit 5 60\nrespawn delay 2 max 30\n");
    assert!(j.respawn);
    assert_eq!(
        j.respawn_delay,
        Some(RespawnDelay {
            delay: 2,
            max: Some(30)
        })
    );
    assert_eq!(
        j.respawn_limit,
        RespawnLimit::Limited {
            count: 5,
            interval: 60
        }
    );
    assert_eq!(
        job("respawn delay 1").respawn_delay,
        Some(RespawnDelay {
            delay: 1,
            max: None
        })
    );
    assert_eq!(JobConfig::new("x").respawn_delay, None);
    assert!(
        !job("respawn delay 1").respawn,
        "a delay alone does not enable respawn"
    );
    assert_eq!(
        error("respawn delay"),
        "1:14: expected a delay in seconds after `delay`"
    );
    assert_eq!(error("respawn delay x"), "1:15: bad number `x`");
    assert_eq!(
        error("respawn delay 1 min 3"),
        "1:17: expected `max`, found `min`"
    );
    assert_eq!(
        error("respawn delay 5 max 2"),
        "1:21: maximum delay 2 is below the delay 5"
    );
    // Rendered as written, so show-config and the round trip keep it.
    let text = render(&job("respawn\nrespawn delay 2 max 30\n"));
    assert!(text.contains("respawn delay 2 max 30"), "{text}");
}
