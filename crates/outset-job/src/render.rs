//! A job's normalised configuration, written as a job file that parses back to the same job.
//!
//! Expressions are fully bracketed, as `initctl show-config` prints them.

use std::fmt::Write;

use crate::expr::{Arg, Expr, ListenAddr, ReadySource};
use crate::model::*;

/// Quotes a word when the lexer would otherwise split, drop or reinterpret it.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && !word.starts_with('#')
        && word
            .chars()
            .all(|c| !matches!(c, ' ' | '\t' | '\r' | '\n' | '"' | '\'' | '\\' | '(' | ')'));
    if plain {
        return word.to_string();
    }
    let mut s = String::from("\"");
    for c in word.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// An operand word: operators and parentheses are quoted so they stay operands.
fn operand_word(word: &str) -> String {
    if word == "and" || word == "or" {
        format!("\"{word}\"")
    } else {
        quote(word)
    }
}

/// `(a and (b or c))`: every binary node in parentheses.
pub fn render_expr(e: &Expr) -> String {
    match e {
        Expr::And(a, b) => format!("({} and {})", render_expr(a), render_expr(b)),
        Expr::Or(a, b) => format!("({} or {})", render_expr(a), render_expr(b)),
        Expr::Event(m) => {
            let mut s = operand_word(&m.name);
            for a in &m.args {
                s.push(' ');
                s.push_str(&match a {
                    Arg::Positional(v) => operand_word(v),
                    Arg::Eq(k, v) => quote(&format!("{k}={v}")),
                    Arg::Ne(k, v) => quote(&format!("{k}!={v}")),
                });
            }
            s
        }
        Expr::Ready(r) => match r {
            ReadySource::File(p) => format!("file {}", quote(p)),
            ReadySource::Dbus(n) => format!("dbus {}", quote(n)),
            ReadySource::Listening(a) => format!("listening {}", quote(&render_listen(a))),
        },
    }
}

fn render_listen(a: &ListenAddr) -> String {
    let hostport = |proto: &str, addr: &Option<String>, port: u16| match addr {
        Some(h) if h.contains(':') => format!("{proto}:[{h}]:{port}"),
        Some(h) => format!("{proto}:{h}:{port}"),
        None => format!("{proto}:{port}"),
    };
    match a {
        ListenAddr::Tcp { addr, port } => hostport("tcp", addr, *port),
        ListenAddr::Udp { addr, port } => hostport("udp", addr, *port),
        ListenAddr::Unix(p) => format!("unix:{p}"),
    }
}

fn render_process(out: &mut String, prefix: &str, p: &Process) {
    match p {
        Process::Exec(cmd) => {
            let _ = writeln!(out, "{prefix}exec {cmd}");
        }
        Process::Script(body) => {
            let _ = writeln!(out, "{prefix}script");
            // Every line of a parsed body ends with a newline.
            let lines: Vec<&str> = match body.strip_suffix('\n') {
                Some(b) => b.split('\n').collect(),
                None if body.is_empty() => Vec::new(),
                None => body.split('\n').collect(),
            };
            // With no line holding more than whitespace there is no indent to strip back.
            let indent = !body.trim_matches([' ', '\t', '\r', '\n']).is_empty();
            for line in lines {
                if !line.is_empty() && indent {
                    out.push_str("    ");
                }
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("end script\n");
        }
    }
}

fn limit_value(v: LimitValue) -> String {
    match v {
        LimitValue::Value(n) => n.to_string(),
        LimitValue::Unlimited => "unlimited".into(),
    }
}

/// The job as a job file. Defaults are written out too, so the output says everything the
/// job will do.
pub fn render(job: &JobConfig) -> String {
    let mut o = String::new();
    let line = |o: &mut String, s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    let words = |v: &[String]| v.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
    if let Some(d) = &job.description {
        line(&mut o, format!("description {}", quote(d)));
    }
    if let Some(a) = &job.author {
        line(&mut o, format!("author {}", quote(a)));
    }
    if let Some(v) = &job.version {
        line(&mut o, format!("version {}", quote(v)));
    }
    if let Some(u) = &job.usage {
        line(&mut o, format!("usage {}", quote(u)));
    }
    if !job.emits.is_empty() {
        line(&mut o, format!("emits {}", words(&job.emits)));
    }
    if job.manual {
        line(&mut o, "manual".into());
    }
    if let Some(e) = &job.start_on {
        line(&mut o, format!("start on {}", render_expr(e)));
    }
    if let Some(e) = &job.stop_on {
        line(&mut o, format!("stop on {}", render_expr(e)));
    }
    if let Some(e) = &job.ready_on {
        line(&mut o, format!("ready on {}", render_expr(e)));
    }
    if job.task {
        line(&mut o, "task".into());
    }
    if let Some(i) = &job.instance {
        line(&mut o, format!("instance {}", quote(i)));
    }
    if job.respawn {
        line(&mut o, "respawn".into());
    }
    line(
        &mut o,
        match job.respawn_limit {
            RespawnLimit::Limited { count, interval } => {
                format!("respawn limit {count} {interval}")
            }
            RespawnLimit::Unlimited => "respawn limit unlimited".into(),
        },
    );
    if let Some(d) = job.respawn_delay {
        line(
            &mut o,
            match d.max {
                Some(max) => format!("respawn delay {} max {max}", d.delay),
                None => format!("respawn delay {}", d.delay),
            },
        );
    }
    if !job.normal_exit.is_empty() {
        let codes: Vec<String> = job
            .normal_exit
            .iter()
            .map(|c| match c {
                ExitCode::Status(n) => n.to_string(),
                ExitCode::Signal(s) => match crate::signal::signal_name(*s) {
                    Some(n) => n.to_string(),
                    // A signal without a name cannot be told from a status: give it its SIG form.
                    None => format!("SIG{}", s.0),
                },
            })
            .collect();
        line(&mut o, format!("normal exit {}", codes.join(" ")));
    }
    line(
        &mut o,
        match job.expect {
            Expect::None => "expect none".into(),
            Expect::Stop => "expect stop".into(),
            Expect::Fork(1) => "expect fork".into(),
            Expect::Fork(n) => format!("expect fork {n}"),
            Expect::Daemon => "expect daemon".into(),
            Expect::Exit(n) => format!("expect exit {n}"),
            Expect::Notify => "expect notify".into(),
        },
    );
    if let Some(p) = &job.pid_file {
        line(&mut o, format!("pid file {}", quote(p)));
    }
    if let Some(t) = job.start_timeout {
        line(&mut o, format!("start timeout {t}"));
    }
    if let Some(w) = job.watchdog {
        line(&mut o, format!("watchdog {w}"));
    }
    match job.log_rotate {
        Some(LogRotate { max_size: 0, .. }) => line(&mut o, "log rotate off".to_string()),
        Some(r) => line(&mut o, format!("log rotate {} {}", r.max_size, r.keep)),
        None => {}
    }
    line(&mut o, format!("kill signal {}", job.kill_signal));
    line(&mut o, format!("kill timeout {}", job.kill_timeout));
    line(&mut o, format!("reload signal {}", job.reload_signal));
    let console = match job.console {
        Console::Log => "log",
        Console::Output => "output",
        Console::Owner => "owner",
        Console::None => "none",
    };
    line(&mut o, format!("console {console}"));
    line(
        &mut o,
        format!(
            "track {}",
            match job.track {
                Track::Cgroup => "cgroup",
                Track::Ptrace => "ptrace",
            }
        ),
    );
    for e in &job.env {
        line(
            &mut o,
            match &e.value {
                Some(v) => format!("env {}", quote(&format!("{}={v}", e.key))),
                None => format!("env {}", quote(&e.key)),
            },
        );
    }
    if !job.export.is_empty() {
        line(&mut o, format!("export {}", words(&job.export)));
    }
    if !job.imports.is_empty() {
        line(&mut o, format!("import {}", words(&job.imports)));
    }
    if !job.tmpfiles.is_empty() {
        line(&mut o, format!("tmpfiles {}", words(&job.tmpfiles)));
    }
    for (kw, v) in [
        ("setuid", &job.setuid),
        ("setgid", &job.setgid),
        ("chroot", &job.chroot),
        ("chdir", &job.chdir),
        ("apparmor load", &job.apparmor_load),
        ("apparmor switch", &job.apparmor_switch),
    ] {
        if let Some(v) = v {
            line(&mut o, format!("{kw} {}", quote(v)));
        }
    }
    for l in &job.limits {
        line(
            &mut o,
            format!(
                "limit {} {} {}",
                l.resource.name(),
                limit_value(l.soft),
                limit_value(l.hard)
            ),
        );
    }
    if let Some(n) = job.nice {
        line(&mut o, format!("nice {n}"));
    }
    if let Some(s) = job.oom_score {
        line(&mut o, format!("oom score {s}"));
    }
    if let Some(m) = job.umask {
        line(&mut o, format!("umask {m:04o}"));
    }
    for c in &job.cgroups {
        let mut s = format!("cgroup {}", quote(&c.controller));
        if let Some(n) = &c.name {
            s.push(' ');
            s.push_str(&quote(n));
        }
        if let Some((k, v)) = &c.setting {
            let _ = write!(s, " {} {}", quote(k), quote(v));
        }
        line(&mut o, s);
    }
    for r in &job.resources {
        line(&mut o, crate::resources::render_resource(r));
    }
    if job.debug {
        line(&mut o, "debug".into());
    }
    for kind in ProcessKind::ALL {
        if let Some(p) = job.process(kind) {
            let prefix = match kind {
                ProcessKind::Main => String::new(),
                k => format!("{} ", k.as_str()),
            };
            render_process(&mut o, &prefix, p);
        }
    }
    o
}
