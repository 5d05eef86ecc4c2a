//! `outsetctl`: the client, with Upstart's `initctl` verbs and output.

mod argv0;
pub mod check_config;
mod cli;
pub mod client;
pub mod graph;
mod observe;
mod power;
pub mod show_config;
pub mod trace;
mod verbs;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

pub use argv0::{VERB_ALIASES, rewrite_args};
pub use cli::{Cli, Command, JobArgs};
pub use client::{ClientError, request};

/// Runs the client with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    run(std::env::args_os().collect())
}

/// Runs the client with `args` (argv[0] included) on the process's stdout and stderr.
pub fn run(args: Vec<OsString>) -> i32 {
    run_with(
        args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// Runs the client with `args` (argv[0] included), writing to `out` and `err` so tests can
/// see the output; returns the exit code.
pub fn run_with(args: Vec<OsString>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = argv0::rewrite_args(args);
    let prog = argv0::prog_name(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            // `--help` and `--version` (stdout) exit 0; a usage error exits as the name
            // the client runs under says (initctl's 1, outsetctl's 2).
            return if e.use_stderr() {
                argv0::usage_exit(&prog)
            } else {
                e.exit_code()
            };
        }
    };
    if cli.dest.is_some() && !cli.system {
        let _ = writeln!(err, "{prog}: --dest given without --system");
        let _ = writeln!(err, "Try `{prog} --help' for more information.");
        return 1;
    }
    let socket = client::choose_socket(&client::SocketChoice {
        flag: cli.socket,
        system: cli.system,
        user: cli.user || cli.session,
    });
    // `-q`: results are not printed (initctl's messages are below its error threshold).
    let mut sink = std::io::sink();
    let out: &mut dyn Write = if cli.quiet { &mut sink } else { out };
    let mut io = verbs::Io {
        prog: &prog,
        out,
        err,
        verbose: cli.verbose,
    };
    match verbs::plan(cli.command, !cli.no_wait) {
        verbs::Plan::Remote(cmd) => verbs::run_remote(&socket, cmd, cli.json, &mut io),
        verbs::Plan::CheckConfig { paths, opts, .. } if paths.is_empty() => {
            check_config::run_remote(&socket, &opts, &mut io)
        }
        verbs::Plan::CheckConfig { paths, show, opts } => {
            check_config::run(&paths, show, &opts, io.out, io.err)
        }
        verbs::Plan::ShowConfig {
            job,
            enumerate,
            normalised,
        } => verbs::run_show_config(&socket, job, enumerate, normalised, cli.json, &mut io),
        verbs::Plan::Graph(args) => graph::run(&socket, &args, &mut io),
        verbs::Plan::ListSessions => verbs::run_list_sessions(&mut io),
        verbs::Plan::RemoteNote(cmd, note) => {
            let code = verbs::run_remote(&socket, cmd, cli.json, &mut io);
            if code == 0 {
                let _ = writeln!(io.out, "{note}");
            }
            code
        }
        verbs::Plan::Power { action, force } => power::run_power(&socket, action, force, &mut io),
        verbs::Plan::Runlevel => power::run_runlevel(&socket, &mut io),
        verbs::Plan::Nothing => 0,
        verbs::Plan::Trace {
            argv,
            timeout,
            keep,
            ready,
            cgroup_root,
        } => {
            let args = trace::TraceArgs {
                argv,
                timeout,
                keep,
                json: cli.json,
                ready,
                cgroup_root,
            };
            trace::run(&args, io.out, io.err, &prog)
        }
        verbs::Plan::Version => verbs::run_version(&socket, cli.json, &mut io),
        verbs::Plan::Monitor => observe::run_monitor(&socket, cli.json, &mut io),
        verbs::Plan::Timeline { svg, last } => {
            observe::run_timeline(&socket, svg, last, cli.json, &mut io)
        }
        verbs::Plan::Log {
            job,
            instance,
            lines,
            follow,
        } => verbs::run_log(&socket, job, instance, lines, follow, cli.json, &mut io),
        verbs::Plan::Usage(message) => {
            // A usage error, as clap's own: 1 under initctl's names, else 2.
            verbs::fail(&mut io, &message);
            argv0::usage_exit(&prog)
        }
    }
}
