//! Issue 13 items 6 and 7: runlevel bookkeeping and the order of a shutdown, without a
//! machine to shut down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::runlevel::{Role, Runlevels, Step, parse_level, shutdown_steps};
use outset_proto::ShutdownAction;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn issue13_item6_telinit_levels() {
    for ok in ["0", "1", "2", "5", "6", "S"] {
        assert_eq!(parse_level(ok), ok.chars().next());
    }
    assert_eq!(parse_level("s"), Some('S'));
    for bad in ["", "7", "22", "x", "N", "q"] {
        assert_eq!(parse_level(bad), None, "{bad}");
    }
}

#[test]
fn issue13_item6_runlevel_bookkeeping() {
    let mut l = Runlevels::default();
    // No runlevel at all: sysvinit's `runlevel` prints "unknown".
    assert_eq!(l.line(), None);
    assert_eq!(l.change('2'), env(&[("RUNLEVEL", "2"), ("PREVLEVEL", "N")]));
    assert_eq!(l.line().as_deref(), Some("N 2"));
    assert_eq!(l.change('3'), env(&[("RUNLEVEL", "3"), ("PREVLEVEL", "2")]));
    assert_eq!(l.line().as_deref(), Some("2 3"));
    // A runlevel event emitted by hand moves the bookkeeping too; nonsense does not.
    l.observe(&["PREVLEVEL=3".into(), "RUNLEVEL=5".into()]);
    assert_eq!(l.line().as_deref(), Some("3 5"));
    l.observe(&["RUNLEVEL=9".into()]);
    l.observe(&["OTHER=1".into()]);
    // The same level again is not a change (PREVLEVEL stays the one before).
    l.observe(&["RUNLEVEL=5".into()]);
    assert_eq!(l.line().as_deref(), Some("3 5"));
}

#[test]
fn issue13_item7_orderly_shutdown_as_init() {
    let mut l = Runlevels {
        previous: None,
        current: Some('2'),
    };
    let steps = shutdown_steps(Role::Init, ShutdownAction::Poweroff, false, &mut l);
    assert_eq!(
        steps,
        vec![
            Step::EmitRunlevel(env(&[
                ("RUNLEVEL", "0"),
                ("PREVLEVEL", "2"),
                ("INIT_HALT", "POWEROFF")
            ])),
            Step::StopJobs,
            Step::KillRest,
            Step::Sync,
            Step::Unmount,
            Step::Sync,
            Step::Reboot(ShutdownAction::Poweroff),
        ]
    );
    assert_eq!(l.line().as_deref(), Some("2 0"));
    let steps = shutdown_steps(Role::Init, ShutdownAction::Reboot, false, &mut l);
    assert_eq!(
        steps[0],
        Step::EmitRunlevel(env(&[("RUNLEVEL", "6"), ("PREVLEVEL", "0")]))
    );
    let steps = shutdown_steps(Role::Init, ShutdownAction::Halt, false, &mut l);
    assert!(
        matches!(&steps[0], Step::EmitRunlevel(e) if e.contains(&("INIT_HALT".into(), "HALT".into())))
    );
}

#[test]
fn issue13_item7_a_container_never_unmounts() {
    let mut l = Runlevels::default();
    let steps = shutdown_steps(Role::Container, ShutdownAction::Reboot, false, &mut l);
    assert!(!steps.contains(&Step::Unmount));
    assert_eq!(
        steps[1..],
        [
            Step::StopJobs,
            Step::KillRest,
            Step::Sync,
            Step::Reboot(ShutdownAction::Reboot)
        ]
    );
}

#[test]
fn issue13_item7_a_supervisor_only_stops_its_jobs_and_exits() {
    for force in [false, true] {
        for action in [
            ShutdownAction::Halt,
            ShutdownAction::Poweroff,
            ShutdownAction::Reboot,
        ] {
            let mut l = Runlevels::default();
            let steps = shutdown_steps(Role::Supervisor, action, force, &mut l);
            // Never the machine: no kill of other processes, no sync, no reboot(2).
            assert_eq!(steps.last(), Some(&Step::Exit), "{action:?} {force}");
            assert!(steps.contains(&Step::StopJobs));
            assert!(!steps.iter().any(|s| matches!(
                s,
                Step::KillRest | Step::Sync | Step::Unmount | Step::Reboot(_)
            )));
            assert_eq!(matches!(steps[0], Step::EmitRunlevel(_)), !force);
        }
    }
}

#[test]
fn issue13_item7_forced_skips_the_jobs_but_not_the_sync() {
    let mut l = Runlevels::default();
    let steps = shutdown_steps(Role::Init, ShutdownAction::Reboot, true, &mut l);
    assert_eq!(
        steps,
        vec![
            Step::Sync,
            Step::Unmount,
            Step::Sync,
            Step::Reboot(ShutdownAction::Reboot)
        ]
    );
    // A forced reboot announces no runlevel.
    assert_eq!(l, Runlevels::default());
    // Maintenance mode is a runlevel change, not a shutdown.
    assert!(shutdown_steps(Role::Init, ShutdownAction::Single, false, &mut l).is_empty());
}
