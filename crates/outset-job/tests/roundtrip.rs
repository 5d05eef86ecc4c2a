//! Property: any job, rendered, parses back to the same job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_job::lexer::strip_common_indent;
use outset_job::*;
use proptest::prelude::*;

/// Free text: quotes, backslashes, `#`, parentheses and spaces included; no newlines.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \t#'\"\\\\()=!$*?\\[\\]:/._-]{1,12}"
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.-]{1,8}"
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        word(),
        Just("and".to_string()),
        Just("(x".to_string()),
        Just("#a".to_string())
    ]
    .prop_filter("readiness keywords", |n| {
        !matches!(n.as_str(), "file" | "listening" | "dbus")
    })
}

fn arg_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 #'\"\\\\()!$*?\\[\\]:/._-]{0,8}"
}

fn operand() -> impl Strategy<Value = Expr> {
    (
        event_name(),
        prop::collection::vec(
            arg_value().prop_filter("non-empty", |v| !v.is_empty()),
            0..3,
        ),
        prop::collection::vec(("[A-Z_][A-Z0-9_]{0,5}", arg_value(), any::<bool>()), 0..3),
    )
        .prop_map(|(name, pos, named)| {
            let mut args: Vec<Arg> = pos.into_iter().map(Arg::Positional).collect();
            args.extend(
                named
                    .into_iter()
                    .map(|(k, v, ne)| if ne { Arg::Ne(k, v) } else { Arg::Eq(k, v) }),
            );
            Expr::Event(EventMatch { name, args })
        })
}

fn expr(leaf: BoxedStrategy<Expr>) -> impl Strategy<Value = Expr> {
    leaf.prop_recursive(4, 16, 2, |inner| {
        (inner.clone(), inner, any::<bool>()).prop_map(|(a, b, and)| {
            if and {
                Expr::And(Box::new(a), Box::new(b))
            } else {
                Expr::Or(Box::new(a), Box::new(b))
            }
        })
    })
}

fn ready_leaf() -> BoxedStrategy<Expr> {
    prop_oneof![
        operand(),
        "/[a-z/ ]{1,10}".prop_map(|p| Expr::Ready(ReadySource::File(p))),
        word().prop_map(|n| Expr::Ready(ReadySource::Dbus(n))),
        (
            prop::option::of(prop_oneof![
                Just("127.0.0.1".to_string()),
                Just("::1".to_string())
            ]),
            1u16..
        )
            .prop_map(|(addr, port)| Expr::Ready(ReadySource::Listening(
                ListenAddr::Tcp { addr, port }
            ))),
        (1u16..).prop_map(|port| Expr::Ready(ReadySource::Listening(ListenAddr::Udp {
            addr: None,
            port
        }))),
        "/[a-z]{1,8}".prop_map(|p| Expr::Ready(ReadySource::Listening(ListenAddr::Unix(p)))),
    ]
    .boxed()
}

fn process() -> impl Strategy<Value = Process> {
    prop_oneof![
        prop::collection::vec("[a-zA-Z0-9/$&|>._=-]{1,6}", 1..5)
            .prop_map(|w| Process::Exec(w.join(" "))),
        prop::collection::vec("[ \t]{0,3}[a-z#'\"$ ]{0,10}", 0..6).prop_map(|lines| {
            let lines: Vec<String> = lines
                .into_iter()
                .filter(|l| l.trim() != "end script")
                .collect();
            Process::Script(strip_common_indent(&lines))
        }),
    ]
}

fn signal() -> impl Strategy<Value = Signal> {
    (0i32..=64).prop_map(Signal)
}

fn limit() -> impl Strategy<Value = Limit> {
    let value = prop_oneof![
        Just(LimitValue::Unlimited),
        any::<u64>().prop_map(LimitValue::Value)
    ];
    (
        prop::sample::select(Resource::ALL.to_vec()),
        value.clone(),
        value,
    )
        .prop_map(|(resource, soft, hard)| Limit {
            resource,
            soft,
            hard,
        })
}

prop_compose! {
    fn job()(
        texts in prop::collection::vec(prop::option::of(text()), 12),
        lists in prop::collection::vec(prop::collection::vec(word(), 0..3), 4),
        start_on in prop::option::of(expr(operand().boxed())),
        stop_on in prop::option::of(expr(operand().boxed())),
        ready_on in prop::option::of(expr(ready_leaf())),
        procs in prop::collection::vec(prop::option::of(process()), 5),
        flags in prop::collection::vec(any::<bool>(), 5),
        limit_kind in 0u8..3, count in any::<u32>(), interval in any::<u32>(),
        normal_exit in prop::collection::vec(prop_oneof![(0i32..256).prop_map(ExitCode::Status), (1i32..=64).prop_map(|s| ExitCode::Signal(Signal(s)))], 0..4),
        expect in prop_oneof![Just(Expect::None), Just(Expect::Stop), Just(Expect::Daemon), Just(Expect::Notify), (1u32..=64).prop_map(Expect::Fork), (1u32..=64).prop_map(Expect::Exit)],
        sigs in (signal(), signal()), kill_timeout in any::<u32>(),
        console in prop_oneof![Just(Console::Log), Just(Console::Output), Just(Console::Owner), Just(Console::None)],
        env in prop::collection::vec(("[A-Za-z_][A-Za-z0-9_]{0,6}", prop::option::of(arg_value())), 0..4),
        limits in prop::collection::vec(limit(), 0..3),
        nums in (prop::option::of(-20i32..=19), prop::option::of(-1000i32..=1000), prop::option::of(0u32..=0o777)),
        cgroups in prop::collection::vec((word(), prop::option::of(word()), prop::option::of((word(), word()))), 0..3),
        opts in (prop::option::of(any::<u32>()), prop::option::of(any::<u32>()), any::<bool>()),
    ) -> JobConfig {
        let mut j = JobConfig::new("gen/job");
        let mut t = texts.into_iter();
        let mut next = || t.next().flatten();
        j.description = next();
        j.author = next();
        j.version = next();
        j.usage = next();
        j.instance = next();
        j.setuid = next();
        j.setgid = next();
        j.chdir = next();
        j.chroot = next();
        j.apparmor_load = next();
        j.apparmor_switch = next();
        j.pid_file = next();
        let mut l = lists.into_iter();
        j.emits = l.next().unwrap_or_default();
        j.export = l.next().unwrap_or_default();
        j.imports = l.next().unwrap_or_default();
        j.tmpfiles = l.next().unwrap_or_default();
        j.manual = flags[0];
        j.start_on = start_on;
        j.stop_on = stop_on;
        j.ready_on = ready_on;
        let mut p = procs.into_iter();
        j.main = p.next().flatten();
        j.pre_start = p.next().flatten();
        j.post_start = p.next().flatten();
        j.pre_stop = p.next().flatten();
        j.post_stop = p.next().flatten();
        j.task = flags[1];
        j.respawn = flags[2];
        j.debug = flags[3];
        j.track = if flags[4] { Track::Ptrace } else { Track::Cgroup };
        j.respawn_limit = match limit_kind {
            0 => RespawnLimit::Unlimited,
            _ => RespawnLimit::Limited { count, interval },
        };
        j.normal_exit = normal_exit;
        j.expect = expect;
        j.kill_signal = sigs.0;
        j.reload_signal = sigs.1;
        j.kill_timeout = kill_timeout;
        j.console = console;
        j.env = env.into_iter().map(|(key, value)| EnvEntry { key, value }).collect();
        for lim in limits {
            j.limits.retain(|x| x.resource != lim.resource);
            j.limits.push(lim);
        }
        (j.nice, j.oom_score, j.umask) = nums;
        j.cgroups = cgroups.into_iter().map(|(controller, name, setting)| CgroupStanza { controller, name, setting }).collect();
        (j.start_timeout, j.watchdog) = (opts.0, opts.1);
        j
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rendered_jobs_parse_back(j in job()) {
        let text = render(&j);
        let back = parse_job(&j.name, &text);
        prop_assert!(back.is_ok(), "{:?}\n{}", back, text);
        prop_assert_eq!(back.unwrap(), j, "{}", text);
    }

    /// No input makes the parser panic.
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse_job("x", &s);
    }

    #[test]
    fn stanza_soup_never_panics(parts in prop::collection::vec(prop_oneof![
        Just("start on "), Just("("), Just(")"), Just(" and "), Just(" or "), Just("\n"), Just("\\\n"),
        Just("\""), Just("'"), Just("#"), Just("script\n"), Just("end script\n"), Just("exec "),
        Just("env "), Just("="), Just("!="), Just("limit "), Just("expect "), Just("x"), Just(" "),
        Just("pre-start "), Just("ready on "), Just("listening "), Just("tcp:"), Just("1"),
    ], 0..40)) {
        let _ = parse_job("x", &parts.concat());
    }
}
