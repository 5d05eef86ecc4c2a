//! `outset-dist`: `generate` rewrites dist/ (man pages, completions); `deb` builds the
//! Debian package.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "outset-dist", about = "Make outset's distribution files")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Write the man pages and completions under dist/ (DIR instead with --out).
    Generate {
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Build the binaries and the Debian package; prints the package's path.
    Deb {
        /// The cargo profile of the binaries (`release`, or `dev` for a quick package).
        #[arg(long, default_value = "release")]
        profile: String,
        /// Package the binaries already built for the profile instead of building them.
        #[arg(long)]
        no_build: bool,
        /// Where the binaries are (default: the profile's folder of the target dir).
        #[arg(long, value_name = "DIR")]
        bin_dir: Option<PathBuf>,
        /// Where to write the package (default: target/debian).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Generate { out } => {
            let dist = out.unwrap_or_else(|| outset_dist::workspace_root().join("dist"));
            outset_dist::write_all(&dist).map(|()| {
                println!("wrote {}", dist.display());
            })
        }
        Cmd::Deb {
            profile,
            no_build,
            bin_dir,
            out,
        } => {
            let opts = outset_dist::deb::Options {
                profile,
                build: !no_build,
                bin_dir,
                out_dir: out,
            };
            outset_dist::deb::build(&opts).map(|path| println!("{}", path.display()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outset-dist: {e:#}");
            ExitCode::FAILURE
        }
    }
}
