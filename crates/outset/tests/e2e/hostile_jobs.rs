//! Hostile job files against a running daemon (issue 10): input that used to abort the daemon
//! or fail only at spawn is refused at load with a `file:line:column` error, and the daemon
//! keeps answering and loading other jobs.

use std::time::Duration;

use crate::common::*;

fn alive(d: &mut TestDaemon) -> bool {
    d.child.as_mut().unwrap().try_wait().unwrap().is_none()
}

/// Waits for the daemon's log to hold `needle`.
fn wait_log(d: &TestDaemon, needle: &str) {
    d.wait_for(
        &format!("log line {needle:?}"),
        Duration::from_secs(20),
        || d.stderr().contains(needle),
    );
}

// Issue 10 item 10: 30,000 nested parentheses, a flat 50,000-term `and` chain and a
// 100,000-deep `${A:-…}` instance template each aborted the daemon with a stack overflow.
#[test]
fn issue10_item10_deep_job_files_are_refused_and_the_daemon_survives() {
    let Some(mut d) = daemon(|d| d.write_job("good", "exec true\n")) else {
        return;
    };
    d.wait_status(&["good"], "stop/waiting");
    let parens = 30_000;
    d.write_job(
        "parens",
        &format!(
            "start on {}a{}\nexec true\n",
            "(".repeat(parens),
            ")".repeat(parens)
        ),
    );
    let chain: Vec<String> = (0..50_000).map(|i| format!("e{i}")).collect();
    d.write_job(
        "chain",
        &format!("start on {}\nexec true\n", chain.join(" and ")),
    );
    let deep = 100_000;
    d.write_job(
        "template",
        &format!(
            "instance {}x{}\nexec true\n",
            "${A:-".repeat(deep),
            "}".repeat(deep)
        ),
    );
    let conf = d.confdir.display().to_string();
    wait_log(&d, &format!("{conf}/parens.conf:1:"));
    wait_log(&d, &format!("{conf}/chain.conf:1:"));
    wait_log(
        &d,
        &format!("{conf}/template.conf:1:10: parameter expansions nested too deep"),
    );
    let log = d.stderr();
    assert!(log.contains("parentheses nested too deep"), "{log}");
    assert!(log.contains("expression too deep"), "{log}");
    assert!(alive(&mut d), "daemon died:\n{log}");
    for job in ["parens", "chain", "template"] {
        assert!(d.status(&[job]).contains("Unknown job"), "{job}");
    }
    // Still answers, still runs and loads jobs.
    d.ctl_ok(&["start", "good"]);
    d.write_job("after", "exec true\n");
    d.wait_status(&["after"], "stop/waiting");
    assert!(alive(&mut d));
}

// Issue 10 item 12: a script over 128 KiB could not run (E2BIG as an argument).
#[test]
fn issue10_item12_long_script_runs() {
    let Some(d) = daemon(|d| {
        let out = d.path("out");
        let mut script = format!(
            "task\nscript\n  printf '%s ' \"$0\" > {o}\n  echo ran >> {o}\n",
            o = out.display()
        );
        while script.len() < 200 * 1024 {
            script.push_str("  # padding padding padding padding padding padding padding\n");
        }
        script.push_str("end script\n");
        d.write_job("long", &script);
    }) else {
        return;
    };
    d.ctl_ok(&["start", "long"]);
    let out = d.wait_file("out");
    assert!(
        out.starts_with("/dev/fd/") && out.ends_with(" ran\n"),
        "{out}"
    );
}

// Issue 10 item 12: 100,000 `env` lines blocked the daemon for seconds, then failed at spawn
// with E2BIG. They are refused at load with a clear error; other jobs still load.
#[test]
fn issue10_item12_oversize_environment_is_refused_at_load() {
    let Some(mut d) = daemon(|d| {
        let env: String = (0..100_000).map(|i| format!("env V{i}=value\n")).collect();
        d.write_job("bigenv", &format!("{env}exec true\n"));
        d.write_job("small", "env A=1\nexec true\n");
    }) else {
        return;
    };
    d.wait_status(&["small"], "stop/waiting");
    let conf = d.confdir.display().to_string();
    wait_log(
        &d,
        &format!("{conf}/bigenv.conf:4097:5: too many `env` stanzas (more than 4096)"),
    );
    assert!(d.status(&["bigenv"]).contains("Unknown job"));
    d.ctl_ok(&["start", "small"]);
    assert!(alive(&mut d));
}

// Issue 10 item 11: `normal exit -0` was taken as signal 0 and shown as `normal exit SIG0`,
// which does not parse back. It is refused at load; real signals still show and parse back.
#[test]
fn issue10_item11_signal_zero_is_refused_and_signals_round_trip() {
    let Some(d) = daemon(|d| {
        d.write_job("zero", "normal exit -0\nexec true\n");
        d.write_job("sigs", "normal exit 0 TERM SIG40\nexec true\n");
    }) else {
        return;
    };
    d.wait_status(&["sigs"], "stop/waiting");
    let conf = d.confdir.display().to_string();
    wait_log(
        &d,
        &format!("{conf}/zero.conf:1:13: `-0` is neither an exit status nor a signal"),
    );
    assert!(d.status(&["zero"]).contains("Unknown job"));
    let shown = d.ctl_ok(&["show-config", "--normalised", "sigs"]);
    let line = shown
        .lines()
        .find(|l| l.contains("normal exit"))
        .unwrap_or_else(|| panic!("{shown}"));
    let reparsed = outset_job::parse_job("sigs", &format!("{}\n", line.trim())).unwrap();
    assert_eq!(reparsed.normal_exit.len(), 3, "{line}");
}
