//! Multi-call: the client installed as `initctl`, `start`, `stop`, … behaves like Upstart's.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// Names under which the binary acts as the verb of the same name.
const VERB_ALIASES: [&str; 11] = [
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

    #[test]
    fn prog_is_the_basename() {
        assert_eq!(prog_name(&os(&["/sbin/initctl", "list"])), "initctl");
        assert_eq!(prog_name(&os(&["start"])), "start");
        assert_eq!(prog_name(&[]), "outsetctl");
        assert_eq!(prog_name(&os(&[""])), "outsetctl");
    }
}
