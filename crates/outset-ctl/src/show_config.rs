//! `show-config` in initctl's format: each job's name, then two-space-indented `emits`,
//! `start on` and `stop on` lines; with `-e`, one line per event operand instead of the
//! bracketed expressions.

use std::fmt::Write as _;

use outset_job::{Arg, Expr, JobConfig};

/// The job events, whose first positional argument (or `JOB=`) names a job.
pub const JOB_EVENTS: [&str; 4] = ["starting", "started", "stopping", "stopped"];

/// An operand argument as Upstart's `start_on`/`stop_on` properties carry it: `VALUE`,
/// `KEY=VALUE` or `KEY!=VALUE`, unquoted.
pub fn arg_text(a: &Arg) -> String {
    match a {
        Arg::Positional(v) => v.clone(),
        Arg::Eq(k, v) => format!("{k}={v}"),
        Arg::Ne(k, v) => format!("{k}!={v}"),
    }
}

/// The job a job event's operand names: its first argument when positional, or a `JOB=`
/// argument (initctl's `GET_JOB_NAME`), with that argument's index.
pub fn job_of(event: &str, args: &[Arg]) -> Option<(usize, String)> {
    if !JOB_EVENTS.contains(&event) {
        return None;
    }
    args.iter().enumerate().find_map(|(i, a)| match a {
        Arg::Positional(v) if i == 0 => Some((i, v.clone())),
        Arg::Eq(k, v) if k == "JOB" => Some((i, v.clone())),
        _ => None,
    })
}

/// initctl's bracketed form: `(a and (b or c))`, operands with their arguments unquoted.
pub fn bracketed(e: &Expr) -> String {
    match e {
        Expr::And(a, b) => format!("({} and {})", bracketed(a), bracketed(b)),
        Expr::Or(a, b) => format!("({} or {})", bracketed(a), bracketed(b)),
        Expr::Event(m) => std::iter::once(m.name.clone())
            .chain(m.args.iter().map(arg_text))
            .collect::<Vec<_>>()
            .join(" "),
        Expr::Ready(_) => String::new(),
    }
}

/// The operands of `e` in source order.
fn operands(e: &Expr, out: &mut Vec<(String, Vec<Arg>)>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            operands(a, out);
            operands(b, out);
        }
        Expr::Event(m) => out.push((m.name.clone(), m.args.clone())),
        Expr::Ready(_) => {}
    }
}

/// `-e`: `  start on EVENT (job: NAME, env: ARGS)` per operand; the job's naming argument
/// is left out of `env`.
fn enumerated(stanza: &str, e: &Expr, out: &mut String) {
    let mut ops = Vec::new();
    operands(e, &mut ops);
    for (event, args) in ops {
        let job = job_of(&event, &args);
        let mut env = String::new();
        for (i, a) in args.iter().enumerate() {
            if job.as_ref().is_some_and(|(j, _)| *j == i) {
                continue;
            }
            env.push(' ');
            env.push_str(&arg_text(a));
        }
        let job = job.map(|(_, n)| format!(" {n}")).unwrap_or_default();
        let _ = writeln!(out, "  {stanza} {event} (job:{job}, env:{env})");
    }
}

/// One job's block, as `initctl show-config [-e]` prints it.
pub fn render(job: &JobConfig, enumerate: bool) -> String {
    let mut out = format!("{}\n", job.name);
    for e in &job.emits {
        let _ = writeln!(out, "  emits {e}");
    }
    for (stanza, expr) in [("start on", &job.start_on), ("stop on", &job.stop_on)] {
        let Some(expr) = expr else { continue };
        if enumerate {
            enumerated(stanza, expr, &mut out);
        } else {
            let _ = writeln!(out, "  {stanza} {}", bracketed(expr));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(text: &str) -> JobConfig {
        outset_job::parse_job("web", text).unwrap()
    }

    /// Issue 16 item 5: initctl's `show-config` lines, bracketed and enumerated.
    #[test]
    fn issue16_item5_show_config_as_initctl() {
        let j = job(
            "emits web-up\nemits web-*\nstart on (starting db or runlevel [2345]) and net-up IFACE!=lo\nstop on stopped JOB=db\nexec /bin/web\n",
        );
        assert_eq!(
            render(&j, false),
            "web\n  emits web-up\n  emits web-*\n  start on ((starting db or runlevel [2345]) and net-up IFACE!=lo)\n  stop on stopped JOB=db\n"
        );
        assert_eq!(
            render(&j, true),
            "web\n  emits web-up\n  emits web-*\n  start on starting (job: db, env:)\n  start on runlevel (job:, env: [2345])\n  start on net-up (job:, env: IFACE!=lo)\n  stop on stopped (job: db, env:)\n"
        );
        assert_eq!(render(&job("exec /bin/x\n"), false), "web\n");
    }
}
