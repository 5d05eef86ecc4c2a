//! Bounded property tests of the request parser on stable (fuzz-like coverage without
//! nightly): generated requests round-trip, and mangled or arbitrary lines never panic and
//! are refused with a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_proto::{Command, MAX_ENV, Refusal, Request, parse_request, parse_request_as};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_/.-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(20).collect()),
    ]
}

fn env() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof!["[A-Z_]{1,6}=[ -~]{0,10}", any::<String>()],
        0..6,
    )
}

fn inst() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (text(), env(), any::<bool>()).prop_map(|(job, env, wait)| Command::Start {
            job,
            env,
            wait
        }),
        (text(), inst(), env(), any::<bool>()).prop_map(|(job, instance, env, wait)| {
            Command::Stop {
                job,
                instance,
                env,
                wait,
            }
        }),
        (text(), inst(), env(), any::<bool>()).prop_map(|(job, instance, env, wait)| {
            Command::Restart {
                job,
                instance,
                env,
                wait,
            }
        }),
        (text(), inst(), env()).prop_map(|(job, instance, env)| Command::Reload {
            job,
            instance,
            env
        }),
        (text(), inst(), env(), any::<bool>()).prop_map(|(job, instance, env, all)| {
            Command::Status {
                job,
                instance,
                env,
                all,
            }
        }),
        Just(Command::List),
        (text(), env(), any::<bool>()).prop_map(|(event, env, wait)| Command::Emit {
            event,
            env,
            wait
        }),
        Just(Command::ReloadConfiguration),
        prop::option::of(text()).prop_map(|job| Command::ShowConfig { job }),
        Just(Command::Version),
        (inst(), inst()).prop_map(|(job, instance)| Command::ListEnv { job, instance }),
        (text(), inst()).prop_map(|(name, job)| Command::GetEnv {
            name,
            job,
            instance: None
        }),
        (env(), any::<bool>(), inst()).prop_map(|(env, retain, job)| Command::SetEnv {
            env,
            retain,
            job,
            instance: None
        }),
        (env(), inst()).prop_map(|(names, job)| Command::UnsetEnv {
            names,
            job,
            instance: None
        }),
        inst().prop_map(|job| Command::ResetEnv {
            job,
            instance: None
        }),
        text().prop_map(|job| Command::Usage { job }),
        text().prop_map(|address| Command::NotifyDbusAddress { address }),
        text().prop_map(|address| Command::NotifyCgroupManagerAddress { address }),
        (any::<bool>(), any::<u64>(), prop::option::of(text())).prop_map(
            |(force, delay, message)| Command::Shutdown {
                action: outset_proto::ShutdownAction::Reboot,
                force,
                delay,
                message,
            }
        ),
        Just(Command::CancelShutdown),
        (text(), env(), any::<bool>()).prop_map(|(level, env, wait)| Command::Telinit {
            level,
            env,
            wait
        }),
        Just(Command::Runlevel),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_requests_round_trip_and_respect_permission(cmd in command()) {
        let req = Request::new(cmd);
        let line = serde_json::to_string(&req).unwrap();
        prop_assert_eq!(parse_request(&line), Ok(req.clone()));
        let as_nobody = parse_request_as(&line, false);
        if req.command.needs_right() {
            prop_assert_eq!(as_nobody, Err(Refusal::Denied));
        } else {
            prop_assert_eq!(as_nobody, Ok(req));
        }
    }

    #[test]
    fn mangled_requests_never_panic(
        cmd in command(),
        cut in any::<prop::sample::Index>(),
        insert in any::<String>(),
        may_change in any::<bool>(),
    ) {
        let line = serde_json::to_string(&Request::new(cmd)).unwrap();
        let mut at = cut.index(line.len() + 1);
        while !line.is_char_boundary(at) {
            at -= 1;
        }
        let mangled = format!("{}{insert}{}", &line[..at], &line[at..]);
        for l in [&line[..at], mangled.as_str()] {
            match parse_request_as(l, may_change) {
                Ok(_) => {}
                Err(Refusal::Denied) => prop_assert!(!may_change),
                Err(Refusal::Invalid(e)) => prop_assert!(!e.is_empty()),
            }
        }
    }

    #[test]
    fn env_over_the_cap_is_refused_for_everyone(extra in 1usize..50, may_change in any::<bool>()) {
        let env: Vec<String> = (0..MAX_ENV + extra).map(|i| format!("K{i}=1")).collect();
        let line = serde_json::to_string(&Request::new(Command::Status {
            job: "j".into(),
            instance: None,
            env,
            all: false,
        }))
        .unwrap();
        match parse_request_as(&line, may_change) {
            Err(Refusal::Invalid(e)) => prop_assert!(e.contains("the limit is"), "{}", e),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
