//! `outset-docsite build OUT_DIR [--docs DIR] [--bin-dir DIR] [--list-external]`

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: outset-docsite build OUT_DIR [--docs DIR] [--bin-dir DIR] [--list-external]

Builds the documentation site from DIR (default: docs) into OUT_DIR and checks its links.
--bin-dir DIR     where the [generate] commands of site.conf find programs first
                  (default: the directory of this program, i.e. target/debug under cargo run)
--list-external   print the external links (not fetched, not checked)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = None;
    let mut docs = PathBuf::from("docs");
    let mut bin_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from));
    let mut list_external = false;
    let mut iter = args.iter();
    match iter.next().map(String::as_str) {
        Some("build") => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => return usage("expected the `build` command"),
    }
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--docs" => match iter.next() {
                Some(dir) => docs = PathBuf::from(dir),
                None => return usage("--docs needs a directory"),
            },
            "--bin-dir" => match iter.next() {
                Some(dir) => bin_dir = Some(PathBuf::from(dir)),
                None => return usage("--bin-dir needs a directory"),
            },
            "--list-external" => list_external = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            a if a.starts_with('-') => return usage(&format!("unknown option {a}")),
            a if out.is_none() => out = Some(PathBuf::from(a)),
            a => return usage(&format!("unexpected argument {a}")),
        }
    }
    let Some(out) = out else {
        return usage("missing OUT_DIR");
    };
    let opts = outset_docsite::BuildOptions {
        docs,
        out: out.clone(),
        bin_dir,
    };
    match outset_docsite::build(&opts) {
        Ok(built) => {
            if list_external {
                for link in &built.external {
                    println!("{}:{}: {}", link.file.display(), link.line, link.url);
                }
            }
            eprintln!(
                "outset-docsite: {} pages and {} other files in {}; links checked; {} external links not fetched{}",
                built.pages.len(),
                built.assets.len(),
                out.display(),
                built.external.len(),
                if list_external {
                    ""
                } else {
                    " (--list-external lists them)"
                }
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "outset-docsite: {} problem(s); the site is not complete",
                problems.len()
            );
            ExitCode::FAILURE
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("outset-docsite: {why}\n{USAGE}");
    ExitCode::from(2)
}
