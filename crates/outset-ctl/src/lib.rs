//! `outsetctl`: the client, with Upstart's `initctl` verbs and output.

pub mod check_config;
mod cli;

use std::io::Write;

use clap::Parser;

pub use cli::{Cli, Command};

/// Runs the client with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    run(args)
}

/// Runs the client with `args` (argv[0] included).
pub fn run(args: Vec<std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    match cli.command {
        Command::CheckConfig { paths, show } => {
            check_config::run(&paths, show, &mut stdout.lock(), &mut stderr.lock())
        }
        Command::Version => {
            let _ = writeln!(
                stdout.lock(),
                "outsetctl (outset) {}",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
    }
}
