//! Multi-call: the client installed as `initctl`, `start`, `stop`, … behaves like Upstart's.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// Names under which the binary acts as the verb of the same name (the packaging links and
/// man pages of the same names come from this list).
pub const VERB_ALIASES: [&str; 11] = [
    "start", "stop", "restart", "status", "reload", "shutdown", "reboot", "halt", "poweroff",
    "telinit", "runlevel",
];

/// The basename of argv[0], which error messages are prefixed with (`initctl: …`).
pub fn prog_name(args: &[OsString]) -> String {
    args.first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "outsetctl".to_string())
}

/// Whether the client runs under one of Upstart's names (`initctl`, `start`, `stop`, …),
/// where usage errors exit 1 as Upstart's (libnih's option parser: `exit (1)`), rather
/// than the 2 of `outsetctl` (clap's convention).
pub fn upstart_name(prog: &str) -> bool {
    prog == "initctl" || VERB_ALIASES.contains(&prog)
}

/// Exit code of a usage error (a missing or unknown argument) under `prog`.
pub fn usage_exit(prog: &str) -> i32 {
    if upstart_name(prog) { 1 } else { 2 }
}

/// Inserts the verb after argv[0] when invoked as `start`, `stop`, `restart`, `status`,
/// `reload`, `shutdown`, `reboot`, `halt`, `poweroff`, `telinit` or `runlevel`, so that `start foo X=1` means `outsetctl start foo X=1`; other names
/// (`outsetctl`, `initctl`) are left alone.
pub fn rewrite_args(mut args: Vec<OsString>) -> Vec<OsString> {
    let verb = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(OsStr::to_str)
        .and_then(|n| VERB_ALIASES.iter().find(|v| **v == n));
    if let Some(verb) = verb {
        args.insert(1, OsString::from(verb));
    }
    lines_option(args)
}

/// `log -n N` as `tail` has it: `-n` is the global `--no-wait` for every other verb, so
/// after `log` it is rewritten to `--lines`.
fn lines_option(mut args: Vec<OsString>) -> Vec<OsString> {
    // The verb: the first word that is neither an option nor `--socket`'s value.
    let mut at = None;
    let mut i = 1;
    while let Some(a) = args.get(i) {
        if a == "--socket" {
            i += 2;
            continue;
        }
        if !a.to_string_lossy().starts_with('-') {
            at = Some(i);
            break;
        }
        i += 1;
    }
    let Some(at) = at.filter(|&at| args.get(at).is_some_and(|a| a == "log")) else {
        return args;
    };
    for a in args.iter_mut().skip(at + 1) {
        if a == "--" {
            break;
        }
        if a == "-n" {
            *a = OsString::from("--lines");
        } else if let Some(n) = a.to_str().and_then(|s| s.strip_prefix("-n"))
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            *a = OsString::from(format!("--lines={n}"));
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn verb_names_insert_the_verb() {
        assert_eq!(
            rewrite_args(os(&["start", "foo", "X=1"])),
            os(&["start", "start", "foo", "X=1"])
        );
        assert_eq!(
            rewrite_args(os(&["/sbin/stop", "foo"])),
            os(&["/sbin/stop", "stop", "foo"])
        );
        for verb in VERB_ALIASES {
            assert_eq!(rewrite_args(os(&[verb]))[1], OsString::from(verb));
        }
    }

    #[test]
    fn other_names_are_untouched() {
        for args in [
            os(&["initctl", "start", "foo"]),
            os(&["/usr/bin/outsetctl", "list"]),
            os(&["starter", "x"]),
            os(&[]),
        ] {
            assert_eq!(rewrite_args(args.clone()), args);
        }
    }

    /// Issue 14 item 5: `log -n N` means lines, `-n` elsewhere stays --no-wait.
    #[test]
    fn issue14_item5_log_dash_n_is_lines() {
        assert_eq!(
            rewrite_args(os(&["outsetctl", "log", "web", "-n", "5", "-f"])),
            os(&["outsetctl", "log", "web", "--lines", "5", "-f"])
        );
        assert_eq!(
            rewrite_args(os(&["outsetctl", "--json", "log", "web", "-n20"])),
            os(&["outsetctl", "--json", "log", "web", "--lines=20"])
        );
        assert_eq!(
            rewrite_args(os(&["outsetctl", "--socket", "/s", "log", "w", "-n", "2"])),
            os(&["outsetctl", "--socket", "/s", "log", "w", "--lines", "2"])
        );
        let start = os(&["outsetctl", "start", "-n", "log"]);
        assert_eq!(rewrite_args(start.clone()), start);
    }

    /// Issue 16: under Upstart's names a usage error exits 1, as initctl's did.
    #[test]
    fn issue16_usage_errors_exit_1_under_upstarts_names() {
        assert_eq!(usage_exit("initctl"), 1);
        assert_eq!(usage_exit("start"), 1);
        assert_eq!(usage_exit("outsetctl"), 2);
    }

    #[test]
    fn prog_is_the_basename() {
        assert_eq!(prog_name(&os(&["/sbin/initctl", "list"])), "initctl");
        assert_eq!(prog_name(&os(&["start"])), "start");
        assert_eq!(prog_name(&[]), "outsetctl");
        assert_eq!(prog_name(&os(&[""])), "outsetctl");
    }
}
