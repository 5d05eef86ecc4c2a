//! Command-line shape of `outsetctl`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "outsetctl", about = "Control the outset init daemon", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse job files or conf dirs without a daemon; exit 1 if any has an error.
    CheckConfig {
        /// Print each job's normalised configuration (it parses back to the same job).
        #[arg(long)]
        show: bool,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the client's version.
    Version,
}
