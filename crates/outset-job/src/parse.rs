//! Stanzas: from a job file's text to a [`JobConfig`].

use crate::error::ParseError;
use crate::expr_parse::parse_expr;
use crate::lexer::{Lexer, Token};
use crate::model::*;
use crate::signal::parse_signal;

/// Parses a whole job file.
pub fn parse_job(name: &str, text: &str) -> Result<JobConfig, ParseError> {
    let mut job = JobConfig::new(name);
    parse_into(&mut job, text)?;
    Ok(job)
}

/// Parses `text` over `job`, as an `.override` is applied to its `.conf`: each stanza replaces
/// or adds to what is there. On error `job` may be half-updated; callers parse into a copy.
pub fn parse_into(job: &mut JobConfig, text: &str) -> Result<(), ParseError> {
    let mut lx = Lexer::new(text);
    loop {
        lx.skip_blank()?;
        if lx.at_eof() {
            job.shrink_to_fit();
            return Ok(());
        }
        let Some(kw) = lx.token(false)? else {
            // skip_blank leaves the cursor on a word; nothing else can end the stanza here.
            continue;
        };
        stanza(job, &mut lx, &kw)?;
    }
}

fn err(t: &Token, message: impl Into<String>) -> ParseError {
    ParseError::new(t.line, t.col, message)
}

/// The next word of the stanza, which must be there.
fn need(lx: &mut Lexer, kw: &Token, what: &str) -> Result<Token, ParseError> {
    let (line, col) = (lx.line(), lx.col());
    lx.token(false)?
        .ok_or_else(|| ParseError::new(line, col, format!("expected {what} after `{}`", kw.text)))
}

/// Exactly one argument.
fn one(lx: &mut Lexer, kw: &Token, what: &str) -> Result<String, ParseError> {
    let t = need(lx, kw, what)?;
    lx.end_stanza()?;
    Ok(t.text)
}

/// One or more arguments.
fn many(lx: &mut Lexer, kw: &Token, what: &str) -> Result<Vec<String>, ParseError> {
    let mut v = vec![need(lx, kw, what)?.text];
    while let Some(t) = lx.token(false)? {
        v.push(t.text);
    }
    lx.end_stanza()?;
    Ok(v)
}

fn number(t: &Token, min: i64, max: i64) -> Result<i64, ParseError> {
    let n: i64 = t
        .text
        .parse()
        .map_err(|_| err(t, format!("bad number `{}`", t.text)))?;
    if n < min || n > max {
        return Err(err(
            t,
            format!("`{}` is out of range ({min} to {max})", t.text),
        ));
    }
    Ok(n)
}

fn u32_arg(lx: &mut Lexer, kw: &Token, what: &str) -> Result<u32, ParseError> {
    let t = need(lx, kw, what)?;
    lx.end_stanza()?;
    Ok(number(&t, 0, u32::MAX as i64)? as u32)
}

fn process(lx: &mut Lexer, kw: &Token) -> Result<Process, ParseError> {
    let t = need(lx, kw, "`exec` or `script`")?;
    if t.is_word("exec") {
        exec(lx, &t)
    } else if t.is_word("script") {
        script(lx, &t)
    } else {
        Err(err(
            &t,
            format!(
                "expected `exec` or `script` after `{}`, found `{}`",
                kw.text, t.text
            ),
        ))
    }
}

fn exec(lx: &mut Lexer, kw: &Token) -> Result<Process, ParseError> {
    let (line, col) = (lx.line(), lx.col());
    match lx.rest_raw()? {
        Some(cmd) => Ok(Process::Exec(cmd)),
        None => Err(ParseError::new(
            line,
            col,
            format!("expected a command after `{}`", kw.text),
        )),
    }
}

fn script(lx: &mut Lexer, kw: &Token) -> Result<Process, ParseError> {
    lx.end_stanza()?;
    Ok(Process::Script(lx.script_block(kw.line, kw.col)?))
}

fn resource(t: &Token) -> Result<Resource, ParseError> {
    Resource::from_name(&t.text)
        .ok_or_else(|| err(t, format!("unknown resource `{}` for `limit`", t.text)))
}

fn limit_value(t: &Token) -> Result<LimitValue, ParseError> {
    if t.is_word("unlimited") {
        return Ok(LimitValue::Unlimited);
    }
    t.text.parse().map(LimitValue::Value).map_err(|_| {
        err(
            t,
            format!("bad limit `{}` (a number or `unlimited`)", t.text),
        )
    })
}

fn signal(lx: &mut Lexer, kw: &Token) -> Result<Signal, ParseError> {
    let t = need(lx, kw, "a signal")?;
    lx.end_stanza()?;
    parse_signal(&t.text).ok_or_else(|| err(&t, format!("unknown signal `{}`", t.text)))
}

/// Most `env` stanzas a job may have. The kernel refuses an exec whose environment passes
/// about 2 MiB (a quarter of the default stack limit), and the daemon adds its own variables
/// and the event's: a job is refused at load, not at every spawn.
pub const MAX_ENV_ENTRIES: usize = 4096;

/// Most bytes of `KEY=VALUE` text (each with its NUL) a job's `env` stanzas may add up to; a
/// single entry must also stay below the kernel's 128 KiB limit for one string.
pub const MAX_ENV_BYTES: usize = 1024 * 1024;

/// Refuses the `env` stanza `t` when it would take the job past [`MAX_ENV_ENTRIES`] or
/// [`MAX_ENV_BYTES`] (issue 10 item 12).
fn check_env_size(job: &JobConfig, t: &Token) -> Result<(), ParseError> {
    // Counted with the key `env` would add (an override may replace entries later; the bound
    // is on what the file says).
    if job.env.len() >= MAX_ENV_ENTRIES {
        return Err(err(
            t,
            format!("too many `env` stanzas (more than {MAX_ENV_ENTRIES})"),
        ));
    }
    const MAX_ONE: usize = 128 * 1024;
    if t.text.len() + 1 > MAX_ONE {
        return Err(err(
            t,
            format!("`env` value too long (more than {} KiB)", MAX_ONE / 1024),
        ));
    }
    let total: usize = job
        .env
        .iter()
        .map(|e| e.key.len() + e.value.as_ref().map_or(0, |v| v.len() + 1) + 1)
        .sum::<usize>()
        + t.text.len()
        + 1;
    if total > MAX_ENV_BYTES {
        return Err(err(
            t,
            format!(
                "`env` stanzas too large (more than {} KiB in all)",
                MAX_ENV_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

fn stanza(job: &mut JobConfig, lx: &mut Lexer, kw: &Token) -> Result<(), ParseError> {
    // Only the listed stanzas are accepted: the list is what outset-job(5) documents.
    if kw.quoted || !crate::stanzas::is_keyword(&kw.text) {
        return Err(err(kw, format!("unknown stanza `{}`", kw.text)));
    }
    match kw.text.as_str() {
        "description" => job.description = Some(one(lx, kw, "a description")?),
        "author" => job.author = Some(one(lx, kw, "an author")?),
        "version" => job.version = Some(one(lx, kw, "a version")?),
        "usage" => job.usage = Some(one(lx, kw, "a usage text")?),
        "emits" => job.emits.extend(many(lx, kw, "an event name")?),
        "export" => job.export.extend(many(lx, kw, "a variable name")?),
        "import" => job.imports.extend(many(lx, kw, "a variable name")?),
        "tmpfiles" => job.tmpfiles.extend(many(lx, kw, "a path")?),
        "instance" => {
            let t = need(lx, kw, "an instance name")?;
            lx.end_stanza()?;
            // Checked here so a template the expander would refuse is an error at load.
            crate::expand::check_depth(&t.text).map_err(|e| err(&t, e.to_string()))?;
            job.instance = Some(t.text);
        }
        "setuid" => job.setuid = Some(one(lx, kw, "a user")?),
        "setgid" => job.setgid = Some(one(lx, kw, "a group")?),
        "chdir" => job.chdir = Some(one(lx, kw, "a directory")?),
        "chroot" => job.chroot = Some(one(lx, kw, "a directory")?),
        "manual" => {
            lx.end_stanza()?;
            job.manual = true;
            job.start_on = None;
        }
        "task" => {
            lx.end_stanza()?;
            job.task = true;
        }
        "debug" => {
            lx.end_stanza()?;
            job.debug = true;
        }
        "exec" => job.main = Some(exec(lx, kw)?),
        "script" => job.main = Some(script(lx, kw)?),
        "pre-start" => job.pre_start = Some(process(lx, kw)?),
        "post-start" => job.post_start = Some(process(lx, kw)?),
        "pre-stop" => job.pre_stop = Some(process(lx, kw)?),
        "post-stop" => job.post_stop = Some(process(lx, kw)?),
        "start" => {
            let t = need(lx, kw, "`on` or `timeout`")?;
            if t.is_word("on") {
                job.start_on = Some(parse_expr(lx, false)?);
            } else if t.is_word("timeout") {
                job.start_timeout = Some(u32_arg(lx, &t, "seconds")?);
            } else {
                return Err(err(&t, format!("unknown stanza `start {}`", t.text)));
            }
        }
        "stop" => {
            let t = need(lx, kw, "`on`")?;
            if !t.is_word("on") {
                return Err(err(&t, format!("unknown stanza `stop {}`", t.text)));
            }
            job.stop_on = Some(parse_expr(lx, false)?);
        }
        "ready" => {
            let t = need(lx, kw, "`on`")?;
            if !t.is_word("on") {
                return Err(err(&t, format!("unknown stanza `ready {}`", t.text)));
            }
            job.ready_on = Some(parse_expr(lx, true)?);
        }
        "respawn" => {
            match lx.token(false)? {
                None => job.respawn = true,
                Some(t) if t.is_word("limit") => {
                    let a = need(lx, &t, "a count or `unlimited`")?;
                    job.respawn_limit = if a.is_word("unlimited") {
                        RespawnLimit::Unlimited
                    } else {
                        let count = number(&a, 0, u32::MAX as i64)? as u32;
                        let b = need(lx, &a, "an interval in seconds")?;
                        let interval = number(&b, 0, u32::MAX as i64)? as u32;
                        RespawnLimit::Limited { count, interval }
                    };
                }
                Some(t) if t.is_word("delay") => {
                    let a = need(lx, &t, "a delay in seconds")?;
                    let delay = number(&a, 0, u32::MAX as i64)? as u32;
                    let max = match lx.token(false)? {
                        None => None,
                        Some(m) if m.is_word("max") => {
                            let b = need(lx, &m, "a maximum delay in seconds")?;
                            let max = number(&b, 0, u32::MAX as i64)? as u32;
                            if max < delay {
                                return Err(err(
                                    &b,
                                    format!("maximum delay {max} is below the delay {delay}"),
                                ));
                            }
                            Some(max)
                        }
                        Some(m) => {
                            return Err(err(&m, format!("expected `max`, found `{}`", m.text)));
                        }
                    };
                    job.respawn_delay = Some(RespawnDelay { delay, max });
                }
                Some(t) => return Err(err(&t, format!("unexpected token `{}`", t.text))),
            }
            lx.end_stanza()?;
        }
        "normal" => {
            let t = need(lx, kw, "`exit`")?;
            if !t.is_word("exit") {
                return Err(err(&t, format!("unknown stanza `normal {}`", t.text)));
            }
            let first = need(lx, &t, "an exit status or signal")?;
            let mut tokens = vec![first];
            while let Some(a) = lx.token(false)? {
                tokens.push(a);
            }
            lx.end_stanza()?;
            for a in tokens {
                let code = if a.text.bytes().all(|b| b.is_ascii_digit()) {
                    ExitCode::Status(number(&a, 0, 255)? as i32)
                } else {
                    // Signal 0 is no signal: a process cannot die of it (issue 10 item 11).
                    ExitCode::Signal(parse_signal(&a.text).filter(|s| s.0 > 0).ok_or_else(
                        || {
                            err(
                                &a,
                                format!("`{}` is neither an exit status nor a signal", a.text),
                            )
                        },
                    )?)
                };
                job.normal_exit.push(code);
            }
        }
        "expect" => {
            let t = need(lx, kw, "stop, fork, daemon, none, notify or exit")?;
            let n = |lx: &mut Lexer| -> Result<Option<u32>, ParseError> {
                match lx.token(false)? {
                    None => Ok(None),
                    Some(c) => Ok(Some(number(&c, 1, 64)? as u32)),
                }
            };
            job.expect = match t.text.as_str() {
                "stop" => Expect::Stop,
                "daemon" => Expect::Daemon,
                "none" => Expect::None,
                "notify" => Expect::Notify,
                "fork" => Expect::Fork(n(lx)?.unwrap_or(1)),
                "exit" => match n(lx)? {
                    Some(c) => Expect::Exit(c),
                    None => {
                        return Err(err(&t, "`expect exit` needs a count (`expect exit 1`)"));
                    }
                },
                other => {
                    return Err(err(
                        &t,
                        format!(
                            "unknown expect value `{other}` (stop, fork [N], daemon, none, notify or exit N)"
                        ),
                    ));
                }
            };
            lx.end_stanza()?;
        }
        "kill" => {
            let t = need(lx, kw, "`signal` or `timeout`")?;
            if t.is_word("signal") {
                job.kill_signal = signal(lx, &t)?;
            } else if t.is_word("timeout") {
                job.kill_timeout = u32_arg(lx, &t, "seconds")?;
            } else {
                return Err(err(&t, format!("unknown stanza `kill {}`", t.text)));
            }
        }
        "reload" => {
            let t = need(lx, kw, "`signal`")?;
            if !t.is_word("signal") {
                return Err(err(&t, format!("unknown stanza `reload {}`", t.text)));
            }
            job.reload_signal = signal(lx, &t)?;
        }
        "console" => {
            let t = need(lx, kw, "log, output, owner or none")?;
            job.console = match t.text.as_str() {
                "log" => Console::Log,
                "output" => Console::Output,
                "owner" => Console::Owner,
                "none" => Console::None,
                other => {
                    return Err(err(
                        &t,
                        format!("unknown console value `{other}` (log, output, owner or none)"),
                    ));
                }
            };
            lx.end_stanza()?;
        }
        "env" => {
            let t = need(lx, kw, "KEY=VALUE")?;
            lx.end_stanza()?;
            let (key, value) = match t.text.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (t.text.clone(), None),
            };
            if key.is_empty() {
                return Err(err(&t, "expected variable name before `=`"));
            }
            check_env_size(job, &t)?;
            job.env.push(EnvEntry { key, value });
        }
        "limit" => {
            let r = need(lx, kw, "a resource")?;
            let resource = resource(&r)?;
            let soft = limit_value(&need(lx, &r, "a soft limit")?)?;
            let hard = limit_value(&need(lx, &r, "a hard limit")?)?;
            lx.end_stanza()?;
            job.limits.retain(|l| l.resource != resource);
            job.limits.push(Limit {
                resource,
                soft,
                hard,
            });
        }
        "nice" => {
            let t = need(lx, kw, "a nice value")?;
            lx.end_stanza()?;
            job.nice = Some(number(&t, -20, 19)? as i32);
        }
        "oom" => {
            let t = need(lx, kw, "`score`, a value or `never`")?;
            if t.is_word("score") {
                let v = need(lx, &t, "a score or `never`")?;
                lx.end_stanza()?;
                job.oom_score = Some(if v.is_word("never") {
                    -1000
                } else {
                    number(&v, -1000, 1000)? as i32
                });
            } else {
                lx.end_stanza()?;
                job.oom_score = Some(if t.is_word("never") {
                    -1000
                } else {
                    // Legacy oom_adj, scaled to a score as Upstart does.
                    let adj = number(&t, -17, 15)? as i32;
                    if adj < 0 {
                        adj * 1000 / 17
                    } else {
                        adj * 1000 / 15
                    }
                });
            }
        }
        "umask" => {
            let t = need(lx, kw, "an octal mask")?;
            lx.end_stanza()?;
            let m = u32::from_str_radix(&t.text, 8)
                .map_err(|_| err(&t, format!("bad octal mask `{}`", t.text)))?;
            if m > 0o777 {
                return Err(err(&t, format!("`{}` is out of range (0 to 0777)", t.text)));
            }
            job.umask = Some(m);
        }
        "apparmor" => {
            let t = need(lx, kw, "`load` or `switch`")?;
            if t.is_word("load") {
                job.apparmor_load = Some(one(lx, &t, "a profile path")?);
            } else if t.is_word("switch") {
                job.apparmor_switch = Some(one(lx, &t, "a profile name")?);
            } else {
                return Err(err(&t, format!("unknown stanza `apparmor {}`", t.text)));
            }
        }
        "cgroup" => {
            let mut v = many(lx, kw, "a controller")?;
            if v.len() > 4 {
                return Err(err(kw, "`cgroup` takes CONTROLLER [NAME] [KEY VALUE]"));
            }
            let controller = v.remove(0);
            let (name, setting) = match v.len() {
                0 => (None, None),
                1 => (v.pop(), None),
                2 => (None, Some((v.remove(0), v.remove(0)))),
                _ => {
                    let name = v.remove(0);
                    (Some(name), Some((v.remove(0), v.remove(0))))
                }
            };
            job.cgroups.push(CgroupStanza {
                controller,
                name,
                setting,
            });
        }
        "resource" => {
            let c = need(lx, kw, "a controller (memory, cpu, io, tasks, cpuset)")?;
            let k = need(
                lx,
                &c,
                "a setting (max, high, low, min, swap, weight, cpus, mems)",
            )?;
            let v = need(lx, &k, "a value")?;
            let required = match lx.token(false)? {
                None => false,
                Some(t) if t.is_word("required") => true,
                Some(t) => return Err(err(&t, format!("expected `required`, not `{}`", t.text))),
            };
            lx.end_stanza()?;
            let r = crate::resources::ResourceStanza {
                controller: c.text,
                knob: k.text,
                value: v.text.clone(),
                required,
            };
            crate::resources::modern(&r).map_err(|e| err(&v, e))?;
            job.resources.push(r);
        }
        "pid" => {
            let t = need(lx, kw, "`file`")?;
            if !t.is_word("file") {
                return Err(err(&t, format!("unknown stanza `pid {}`", t.text)));
            }
            job.pid_file = Some(one(lx, &t, "a path")?);
        }
        "watchdog" => job.watchdog = Some(u32_arg(lx, kw, "seconds")?),
        "track" => {
            let t = need(lx, kw, "`cgroup` or `ptrace`")?;
            lx.end_stanza()?;
            job.track = match t.text.as_str() {
                "cgroup" => Track::Cgroup,
                "ptrace" => Track::Ptrace,
                other => {
                    return Err(err(
                        &t,
                        format!("unknown track value `{other}` (cgroup or ptrace)"),
                    ));
                }
            };
        }
        "log" => {
            let t = need(lx, kw, "`rotate`")?;
            if !t.is_word("rotate") {
                return Err(err(&t, format!("unknown stanza `log {}`", t.text)));
            }
            let size = need(lx, &t, "a size (bytes, or with K, M or G) or `off`")?;
            if size.is_word("off") {
                lx.end_stanza()?;
                job.log_rotate = Some(LogRotate::OFF);
            } else {
                let max_size = byte_size(&size)?;
                let keep = need(lx, &size, "how many old files to keep")?;
                lx.end_stanza()?;
                let keep = number(&keep, 0, i64::from(MAX_LOG_KEEP))? as u32;
                job.log_rotate = Some(LogRotate { max_size, keep });
            }
        }
        other => return Err(err(kw, format!("unknown stanza `{other}`"))),
    }
    Ok(())
}

/// The most old files `log rotate` keeps.
pub const MAX_LOG_KEEP: u32 = 1000;

/// `4096`, `64K`, `10M`, `1G` (powers of 1024); at least 1 byte.
pub fn parse_byte_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let n = n.checked_mul(1u64 << shift)?;
    (n > 0).then_some(n)
}

fn byte_size(t: &Token) -> Result<u64, ParseError> {
    parse_byte_size(&t.text).ok_or_else(|| {
        err(
            t,
            format!("bad size `{}` (bytes, or a number with K, M or G)", t.text),
        )
    })
}
