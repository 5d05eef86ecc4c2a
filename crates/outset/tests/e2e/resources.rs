//! Resource control (issue 17 item 5): `cgroup` and `resource` stanzas applied to an
//! instance's cgroup. Where this host gives the test's cgroup subtree the controller, the
//! limit is enforced for real; where it does not (the hybrid mount of a host whose controllers
//! sit on cgroup v1), the clear "controller unavailable" report is what is checked, and the
//! enforcement is checked in the boot test VM (crates/outset/tests/boot/cases/resource_limits).

use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// Whether the test's own cgroup (a child of the mount's root) is offered `controller`.
fn offered(mount: &Path, controller: &str) -> bool {
    std::fs::read_to_string(mount.join("cgroup.subtree_control"))
        .is_ok_and(|s| s.split_whitespace().any(|c| c == controller))
}

fn problems(d: &TestDaemon, job: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&d.ctl_ok(&["--json", "status", job])).unwrap();
    v[0]["resource_problems"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn issue17_item5_memory_limit_oom_kills_or_is_reported_unavailable() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    if offered(&mount, "memory") {
        // Doubles a string until the 32 MiB limit kills it.
        d.write_job(
            "hog",
            "resource memory max 32M\ntask\n\
             exec sh -c 'x=aaaaaaaa; while :; do x=\"$x$x\"; done'\n",
        );
        d.write_job(
            "hog-watch",
            &format!(
                "start on stopped hog\ntask\n\
                 exec sh -c 'echo \"$RESULT $EXIT_SIGNAL\" > {p}/hog.out'\n"
            ),
        );
        d.start(&["--no-startup-event"]);
        let _ = d.ctl(&["start", "hog"]);
        assert_eq!(d.wait_file("hog.out").trim(), "failed KILL");
        d.wait_for("the OOM report", Duration::from_secs(10), || {
            d.stderr().contains("OOM killer killed")
        });
        return;
    }
    eprintln!(
        "NOTE: {} does not give its children the memory controller; checking the report \
         (enforcement is checked in the boot test VM)",
        mount.display()
    );
    // Nothing that allocates runs here: the limit would not hold it.
    d.write_job(
        "limited",
        "resource memory max 32M\ncgroup memory memory.limit_in_bytes 33554432\n\
         cgroup cpu cpu.shares 512\nexec sleep 600\n",
    );
    d.write_job("must", "resource memory max 32M required\nexec sleep 600\n");
    d.start(&["--no-startup-event"]);
    // Not refused: the job runs, and says what it could not have.
    let out = d.ctl_ok(&["start", "limited"]);
    assert!(out.contains("limited start/running"), "{out}");
    let probs = problems(&d, "limited");
    assert!(
        probs
            .iter()
            .any(|p| p.starts_with("the memory controller is unavailable")),
        "{probs:?}"
    );
    assert!(
        probs
            .iter()
            .any(|p| p
                == "`resource memory max 32M` not applied: the memory controller is unavailable"),
        "{probs:?}"
    );
    assert!(
        probs.iter().any(|p| p.starts_with(
            "`cgroup cpu cpu.shares 512` not applied: the cpu controller is unavailable"
        )) || offered(&mount, "cpu"),
        "{probs:?}"
    );
    let log = d.stderr();
    assert!(
        log.contains("limited: resource control: the memory controller is unavailable"),
        "{log}"
    );
    // `required`: the start fails, and says why.
    let out = d.ctl(&["start", "must"]);
    assert!(!out.status.success());
    d.wait_for("the refusal in the log", Duration::from_secs(10), || {
        d.stderr().contains("must: resource control required")
    });
    stop_leaves_nothing(&d, "limited");
}

#[test]
fn issue17_item5_cpu_weight_written_and_read_back_or_reported() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    d.write_job(
        "weighted",
        "resource cpu weight 200\nresource tasks max 50\nexec sleep 600\n",
    );
    d.write_job("shares", "cgroup cpu cpu.shares 2048\nexec sleep 600\n");
    d.start(&["--no-startup-event"]);
    d.ctl_ok(&["start", "weighted"]);
    d.ctl_ok(&["start", "shares"]);
    if offered(&mount, "cpu") {
        let read = |job: &str, file: &str| {
            std::fs::read_to_string(d.cgroup.join(format!("{job}.job")).join(file))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(read("weighted", "cpu.weight"), "200");
        // cpu.shares 2048 is weight 79 (1 + (2048 - 2) * 9999 / 262142).
        assert_eq!(read("shares", "cpu.weight"), "79");
        assert!(problems(&d, "shares").is_empty());
    } else {
        eprintln!(
            "NOTE: {} does not give its children the cpu controller; checking the report",
            mount.display()
        );
        let probs = problems(&d, "weighted");
        assert!(
            probs
                .iter()
                .any(|p| p
                    == "`resource cpu weight 200` not applied: the cpu controller is unavailable"),
            "{probs:?}"
        );
        assert!(
            problems(&d, "shares")
                .iter()
                .any(|p| p.starts_with("`cgroup cpu cpu.shares 2048` not applied")),
        );
    }
    d.ctl_ok(&["stop", "weighted"]);
    stop_leaves_nothing(&d, "shares");
}

#[test]
fn issue17_item5_no_cgroups_flag_applies_nothing_and_says_so() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    d.write_job("w", "resource cpu weight 200\nexec sleep 600\n");
    d.start(&["--no-startup-event", "--no-cgroups"]);
    d.ctl_ok(&["start", "w"]);
    assert_eq!(problems(&d, "w"), ["not applied: --no-cgroups"]);
    stop_leaves_nothing(&d, "w");
}
