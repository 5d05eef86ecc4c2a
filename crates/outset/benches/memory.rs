//! Where a running job's memory goes in the engine: heap bytes (with the allocator's own
//! overhead, from `mallinfo2`) per job after parsing the job files, after loading them into
//! the engine, and after starting one instance of each, for 100, 1000 and 5000 jobs of the
//! `start_stop` benchmark's kind. The daemon's own per-instance data (process tracker,
//! cgroup names) is the rest of the RSS that `start_stop` prints.
//!
//! Then 10,000 start/stop cycles of a job with a new instance name each time (issue 10 item
//! 13): the heap and the time per 1000 cycles, first and last, and how many stopped
//! instances the engine still remembers.
//!
//! Run with `cargo bench -p outset --bench memory`. Needs nothing special.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_engine::testing::FakeHost;
use outset_engine::{Engine, Options, ReplyToken};
use outset_job::parse_job;
use outset_proto::Command;
use std::time::Instant;

const JOB_TEXT: &str = "start on go\nstop on halt\nconsole none\nexec sleep 1000\n";

/// The shared fake host, recording nothing: only the engine's own memory counts.
type Host = FakeHost;

/// 10,000 start/stop cycles with unique instance names.
fn instance_churn() {
    let mut host = Host::quiet();
    let mut e = Engine::new(Options {
        base_env: vec![("PATH".into(), outset_engine::DEFAULT_PATH.into())],
        daemon_env: Vec::new(),
        version: "bench".into(),
        track_ptrace: false,
        confirm_spawns: false,
        fixed_env_table: false,
    });
    let jobs = vec![
        parse_job("w", "instance $N\nexec /bin/w\n").unwrap(),
        parse_job(
            "after",
            "start on go and stopped w INSTANCE=n0\nexec /bin/a\n",
        )
        .unwrap(),
    ];
    e.set_jobs(jobs, &mut host);
    let h0 = heap();
    let mut per_thousand = Vec::new();
    let mut t = Instant::now();
    for i in 0..10_000u32 {
        e.command(
            Command::Start {
                job: "w".into(),
                env: vec![format!("N=n{i}")],
                wait: false,
            },
            ReplyToken(1),
            &mut host,
        );
        e.exited(
            host.last_pid(),
            outset_engine::ExitStatus::Exited(0),
            &mut host,
        );
        // A level-triggered `stopped` check each cycle, as an event would cause.
        e.command(
            Command::Emit {
                event: "go".into(),
                env: Vec::new(),
                wait: false,
            },
            ReplyToken(2),
            &mut host,
        );
        if i % 1000 == 999 {
            per_thousand.push(t.elapsed());
            t = Instant::now();
        }
    }
    e.shrink();
    println!(
        "10,000 unique instance start/stop cycles: heap +{:.0} KiB, {} stopped instances \
         remembered; 1000 cycles took {:.1} ms first, {:.1} ms last",
        (heap() - h0) / 1024.0,
        e.stopped_history_len(),
        per_thousand
            .first()
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        per_thousand
            .last()
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
}

fn heap() -> f64 {
    outset_sys::process::heap_in_use().unwrap_or(0) as f64
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("memory: not run with --bench; skipping");
        return;
    }
    if outset_sys::process::heap_in_use().is_none() {
        eprintln!("memory: the C library gives no heap figures; skipping");
        return;
    }
    println!(
        "| jobs | parsed configs | loaded (classes, conditions, indexes) | one running instance each | total |"
    );
    println!("|---|---|---|---|---|");
    for jobs in [100usize, 1000, 5000] {
        let h0 = heap();
        let configs: Vec<_> = (0..jobs)
            .map(|i| parse_job(&format!("j{i:04}"), JOB_TEXT).unwrap())
            .collect();
        let h1 = heap();
        let mut host = Host::quiet();
        let mut e = Engine::new(Options {
            base_env: vec![("PATH".into(), outset_engine::DEFAULT_PATH.into())],
            daemon_env: Vec::new(),
            version: "bench".into(),
            track_ptrace: false,
            confirm_spawns: false,
            fixed_env_table: false,
        });
        e.set_jobs(configs, &mut host);
        let h2 = heap();
        e.command(
            Command::Emit {
                event: "go".into(),
                env: Vec::new(),
                wait: false,
            },
            ReplyToken(1),
            &mut host,
        );
        let h3a = heap();
        e.shrink();
        let h3 = heap();
        println!(
            "(spare capacity given back by Engine::shrink: {:.0} B/job)",
            (h3a - h3) / jobs as f64
        );
        let per = |a: f64, b: f64| (b - a) / jobs as f64;
        println!(
            "| {jobs} | {:.0} B/job | {:.0} B/job | {:.0} B/job | {:.0} B/job |",
            per(h0, h1),
            per(h1, h2),
            per(h2, h3),
            per(h0, h3)
        );
        drop(e);
    }
    instance_churn();
}
