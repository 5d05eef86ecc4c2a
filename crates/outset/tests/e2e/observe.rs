//! Issue 18 items 1, 2 and 4: `outsetctl monitor`, the times in `status`, and
//! `outsetctl timeline` (text and SVG, the SVG looked at in a headless Chromium).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::screenshot::{chromium_screenshot, png_is_not_blank};
use crate::common::*;

/// `outsetctl monitor` (with `--json` when asked) as a child, its lines on a channel.
struct Monitor {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Monitor {
    fn start(d: &TestDaemon, json: bool) -> Monitor {
        let mut cmd = Command::new(OUTSETCTL);
        cmd.arg("--socket").arg(&d.socket);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .arg("monitor")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let m = Monitor { child, lines };
        // Watching once an event emitted now reaches it.
        let deadline = Instant::now() + Duration::from_secs(15);
        'outer: loop {
            assert!(Instant::now() < deadline, "monitor never saw the ping");
            d.ctl_ok(&["emit", "--no-wait", "monitor-ping"]);
            while let Ok(l) = m.lines.recv_timeout(Duration::from_millis(300)) {
                if l.contains("monitor-ping") {
                    break 'outer;
                }
            }
        }
        m
    }

    /// Lines until one contains `needle` (that one included).
    fn until(&self, needle: &str) -> Vec<String> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let done = l.contains(needle);
                got.push(l);
                if done {
                    return got;
                }
            }
        }
        panic!("monitor never printed {needle:?}; got {got:#?}");
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `needle` is among `lines` (the first line containing it).
fn at(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in {lines:#?}"))
}

#[test]
fn issue18_item1_monitor_sees_a_scripted_sequence_in_order() {
    let Some(d) = daemon(|d| {
        d.write_job("b", "exec sleep 1000\n");
        d.write_job("c", "start on a\ntask\nexec true\n");
    }) else {
        return;
    };
    let m = Monitor::start(&d, true);
    d.ctl_ok(&["emit", "a", "X=1"]);
    d.ctl_ok(&["start", "b"]);
    d.ctl_ok(&["stop", "b"]);
    let lines = m.until(r#""job":"b","instance":"","goal":"stop","state":"waiting""#);
    let recs: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    for r in &recs {
        assert!(r["time_ms"].as_u64().unwrap() > 1_600_000_000_000, "{r}");
    }
    let event_a = at(&lines, r#""kind":"event","time_ms""#);
    assert!(
        lines[event_a].contains(r#""name":"a","env":["X=1"]"#),
        "{lines:#?}"
    );
    // What `a` started, after it, in Upstart's order.
    let c_states: Vec<&str> = recs
        .iter()
        .filter(|r| r["job"] == "c")
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        c_states,
        [
            "starting",
            "pre-start",
            "spawned",
            "post-start",
            "running",
            "stopping",
            "killed",
            "post-stop",
            "waiting"
        ]
    );
    assert!(at(&lines, r#""job":"c""#) > event_a);
    assert!(at(&lines, r#""kind":"event","time_ms""#) < at(&lines, r#""name":"starting""#));
    // Then b: started (its main PID shown while it runs), then stopped.
    let b: Vec<&serde_json::Value> = recs.iter().filter(|r| r["job"] == "b").collect();
    let b_states: Vec<(&str, &str)> = b
        .iter()
        .map(|r| (r["goal"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        b_states,
        [
            ("start", "starting"),
            ("start", "pre-start"),
            ("start", "spawned"),
            ("start", "post-start"),
            ("start", "running"),
            ("stop", "pre-stop"),
            ("stop", "stopping"),
            ("stop", "killed"),
            ("stop", "post-stop"),
            ("stop", "waiting"),
        ]
    );
    let running = b.iter().find(|r| r["state"] == "running").unwrap();
    assert!(running["pid"].as_u64().unwrap() > 1, "{running}");
    assert!(b.last().unwrap().get("pid").is_none());
    assert!(
        at(&lines, r#""job":"b""#)
            > at(
                &lines,
                r#""job":"c","instance":"","goal":"stop","state":"waiting""#
            )
    );
    // Job events are events too: `started b` between b running and its stop.
    let started_b = at(&lines, r#""name":"started","env":["JOB=b""#);
    assert!(
        started_b
            > at(
                &lines,
                r#""job":"b","instance":"","goal":"start","state":"running""#
            )
    );
    assert!(started_b < at(&lines, r#""state":"pre-stop""#));
    // Times never go back.
    let times: Vec<u64> = recs
        .iter()
        .map(|r| r["time_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn issue18_item1_monitor_text_lines() {
    let Some(d) = daemon(|d| d.write_job("b", "exec sleep 1000\n")) else {
        return;
    };
    let m = Monitor::start(&d, false);
    d.ctl_ok(&["emit", "hello", "K=v w"]);
    d.ctl_ok(&["start", "b"]);
    let lines = m.until("job b start/running");
    let ev = &lines[at(&lines, " event hello ")];
    assert!(ev.ends_with(" event hello K=v w"), "{ev}");
    // `2026-11-28T12:50:38.123Z event …`: the time first.
    assert_eq!(ev.as_bytes()[23], b'Z', "{ev}");
    let run = &lines[at(&lines, "job b start/running")];
    assert!(run.contains("job b start/running, process "), "{run}");
    stop_leaves_nothing(&d, "b");
}

fn vm_rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Emits `n` events with a 1 KiB variable each over one connection (replies read).
fn emit_many(d: &TestDaemon, n: usize, tag: &str) {
    let s = UnixStream::connect(&d.socket).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let pad = "p".repeat(1024);
    let mut line = String::new();
    for i in 0..n {
        let req = serde_json::json!({
            "v": 1, "cmd": "emit", "event": format!("flood-{tag}"),
            "env": [format!("N={i}"), format!("PAD={pad}")], "wait": false
        });
        writeln!(w, "{req}").unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.contains(r#""status":"ok""#), "{line}");
    }
}

#[test]
fn issue18_item1_a_watcher_that_never_reads_does_not_grow_the_daemon() {
    let Some(d) = daemon(|d| d.write_job("svc", "exec sleep 1000\n")) else {
        return;
    };
    let pid = d.child.as_ref().unwrap().id();
    // A watcher that never reads.
    let watcher = UnixStream::connect(&d.socket).unwrap();
    (&watcher)
        .write_all(b"{\"v\":1,\"cmd\":\"monitor\"}\n")
        .unwrap();
    // Enough to fill the kernel's buffer, the watcher's bound and the history.
    emit_many(&d, 3000, "warm");
    let before = vm_rss_kib(pid);
    // As much again, ~3 MiB of records: none of it may stay.
    emit_many(&d, 3000, "more");
    let after = vm_rss_kib(pid);
    assert!(
        after < before + 1536,
        "daemon RSS grew from {before} KiB to {after} KiB with a watcher that never reads"
    );
    // The daemon still answers, and the watcher is still connected.
    assert_eq!(d.status(&["svc"]), "svc stop/waiting");
    // Once the watcher reads, it is told how many records it missed, then gets the next.
    watcher
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut r = BufReader::new(watcher.try_clone().unwrap());
    let mut first = String::new();
    r.read_line(&mut first).unwrap();
    assert!(first.contains(r#""status":"ok""#), "{first}");
    let reader = std::thread::spawn(move || {
        let mut dropped = None;
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return (dropped, false),
                Ok(_) => {}
            }
            if line.contains(r#""kind":"dropped""#) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                dropped = v["count"].as_u64();
            }
            if line.contains("flood-last") {
                return (dropped, true);
            }
        }
    });
    // Give the reader a moment to drain what was buffered, then one more event.
    std::thread::sleep(Duration::from_millis(500));
    d.ctl_ok(&["emit", "flood-last"]);
    let (dropped, saw_last) = reader.join().unwrap();
    assert!(saw_last, "the watcher never got the event after the flood");
    let dropped = dropped.expect("no dropped record before the next one");
    assert!(dropped > 1000, "only {dropped} records said dropped");
}

/// The `status --json` instance of `job`.
fn status_json(d: &TestDaemon, job: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&d.ctl_ok(&["--json", "status", job])).unwrap();
    v[0].clone()
}

#[test]
fn issue18_item2_status_has_ordered_times() {
    let Some(d) = daemon(|d| {
        // Ready once it stops itself, later than its spawn; running after its post-start.
        d.write_job(
            "svc",
            "expect stop\nexec sh -c 'sleep 0.3; kill -STOP $$; exec sleep 1000'\npost-start exec sleep 0.3\n",
        );
    }) else {
        return;
    };
    let before = outset_proto::rfc3339_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    d.ctl_ok(&["start", "svc"]);
    let after = outset_proto::rfc3339_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    let s = status_json(&d, "svc");
    assert_eq!(s["state"], "running", "{s}");
    let t = |k: &str| {
        s[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {s}"))
            .to_string()
    };
    let (spawned, ready, changed) = (t("spawned"), t("ready"), t("changed"));
    // RFC 3339 at a fixed width: string order is time order.
    assert!(before <= spawned, "{before} {spawned}");
    assert!(spawned <= ready && ready <= changed, "{s}");
    assert!(
        spawned < ready,
        "the job stopped itself later than its spawn: {s}"
    );
    assert!(changed <= after, "{changed} {after}");
    // `status --all` shows them, in words.
    let all = d.ctl_ok(&["status", "--all", "svc"]);
    let human = |iso: &str| iso.replacen('T', " ", 1).replace('Z', " UTC");
    for (k, v) in [
        ("spawned", &spawned),
        ("ready", &ready),
        ("changed", &changed),
    ] {
        assert!(
            all.contains(&format!("\n\t{k} {}\n", human(v)))
                || all.ends_with(&format!("\n\t{k} {}", human(v)))
                || all.contains(&format!("\t{k} {}", human(v))),
            "{all}"
        );
    }
    // Plain `status` keeps initctl's one line.
    assert_eq!(d.status(&["svc"]).lines().count(), 1);
    // A re-exec keeps them.
    d.ctl_ok(&["reexec"]);
    let again = status_json(&d, "svc");
    for k in ["spawned", "ready", "changed"] {
        assert_eq!(again[k], s[k], "{k} after reexec: {again}");
    }
    stop_leaves_nothing(&d, "svc");
}

/// Writes `text` into the test's dir and returns its path.
fn write(d: &TestDaemon, name: &str, text: &str) -> std::path::PathBuf {
    let p = d.path(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn issue18_item4_timeline_of_a_scripted_boot() {
    let Some(d) = daemon(|d| {
        d.write_job("first", "start on boot-go\nexec sleep 1000\n");
        d.write_job(
            "second",
            "start on started first\nexec sleep 1000\npost-start exec sleep 0.2\n",
        );
        d.write_job("third", "start on started second\ntask\nexec sleep 0.2\n");
    }) else {
        return;
    };
    d.ctl_ok(&["emit", "boot-go"]);
    d.wait_for("third to have run", Duration::from_secs(20), || {
        d.ctl_ok(&["timeline"]).contains("\nthird ")
            && d.status(&["third"]).contains("stop/waiting")
    });
    let text = d.ctl_ok(&["timeline"]);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains('|') && !l.starts_with("JOB"))
        .collect();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["first", "second", "third"], "{text}");
    // Each row: start, spawned, ready, stopped in ms, then its bar.
    let cols = |r: &str| -> Vec<String> {
        r.split_whitespace()
            .skip(1)
            .take(4)
            .map(String::from)
            .collect()
    };
    let num = |s: &str| s.parse::<u64>().ok();
    let first = cols(rows[0]);
    let second = cols(rows[1]);
    let third = cols(rows[2]);
    assert_eq!(first[3], "-", "first still runs: {text}");
    assert!(num(&third[3]).is_some(), "the task stopped: {text}");
    // A task is up (post-start, running) as soon as it is spawned, as in Upstart.
    assert_eq!(third[1], third[2], "{text}");
    assert!(num(&first[0]) <= num(&second[0]) && num(&second[0]) <= num(&third[0]));
    assert!(num(&second[1]) <= num(&second[2]), "{text}");
    for r in &rows {
        let bar = r.split('|').nth(1).unwrap();
        assert!(bar.contains('=') || bar.contains('#'), "no bar in {r}");
    }
    assert!(
        rows[0].split('|').nth(1).unwrap().ends_with('#'),
        "first runs to the end: {text}"
    );
    // Events with their times.
    let events = text.split("events:\n").nth(1).unwrap();
    let boot = at(
        &events.lines().map(String::from).collect::<Vec<_>>(),
        " boot-go",
    );
    assert!(events.lines().nth(boot).is_some());
    assert!(
        events.contains(" started\n") || events.contains(" started"),
        "{events}"
    );

    // The SVG: well-formed, a bar label per run, the events, then looked at.
    let svg = d.ctl_ok(&["timeline", "--svg"]);
    let xml = outset_testkit::xml::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    let elements = xml.elements;
    assert_eq!(xml.root, "svg");
    for job in ["first", "second", "third"] {
        assert!(svg.contains(&format!(">{job}</text>")), "{job} in {svg}");
    }
    assert!(svg.contains("boot-go ("), "{svg}");
    // A bar segment (with its tooltip) at least per run.
    for job in ["first", "second", "third"] {
        assert!(
            svg.contains(&format!("<title>{job} ready ")),
            "{job} in {svg}"
        );
    }
    assert!(elements.iter().filter(|e| *e == "rect").count() > 3);
    if chromium().is_none() {
        return;
    }
    let path = write(&d, "timeline.svg", &svg);
    let png = chromium_screenshot(&path);
    assert!(png_is_not_blank(&png), "{} looks blank", png.display());
    // An empty chart is mostly background: the picture holds what the SVG draws.
    let blank = write(
        &d,
        "blank.svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1200\" height=\"800\"><rect width=\"1200\" height=\"800\" fill=\"#ffffff\"/></svg>",
    );
    let blank_png = chromium_screenshot(&blank);
    assert!(!png_is_not_blank(&blank_png), "an empty chart is blank");
    if let Ok(keep) = std::env::var("OUTSET_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
    d.ctl_ok(&["stop", "second"]);
    stop_leaves_nothing(&d, "first");
}

#[test]
fn issue18_item4_svg_escapes_names() {
    let Some(d) = daemon(|d| d.write_job("amp", "start on a\ntask\nexec true\n")) else {
        return;
    };
    d.ctl_ok(&["emit", "a", "X=<b>&\"'"]);
    d.ctl_ok(&["emit", "weird<&>name"]);
    let svg = d.ctl_ok(&["timeline", "--svg"]);
    outset_testkit::xml::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert!(svg.contains("weird&lt;&amp;&gt;name"), "{svg}");
}
