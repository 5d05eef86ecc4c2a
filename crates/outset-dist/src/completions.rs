//! bash, zsh and fish completions for `outsetctl` and `outset`, from their clap definitions.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::GenFile;

/// Where each shell's completion for `bin` goes under `dist/completions` (the names the
/// shells look up: bash by command name, zsh `_NAME`, fish `NAME.fish`).
pub fn file_name(shell: Shell, bin: &str) -> PathBuf {
    match shell {
        Shell::Zsh => PathBuf::from(format!("zsh/_{bin}")),
        Shell::Fish => PathBuf::from(format!("fish/{bin}.fish")),
        _ => PathBuf::from(format!("bash/{bin}")),
    }
}

/// The shells completions are made for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The completion scripts, as files under `dist/`.
pub fn scripts() -> Vec<GenFile> {
    let commands = [
        ("outsetctl", outset_ctl::Cli::command()),
        ("outset", outset_daemon::args::Args::command()),
    ];
    let mut out = Vec::new();
    for (bin, cmd) in commands {
        for shell in SHELLS {
            let mut bytes = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), bin, &mut bytes);
            out.push(GenFile {
                path: PathBuf::from("completions").join(file_name(shell, bin)),
                bytes,
            });
        }
    }
    out
}
