//! Issue 18 item 5: the stanza list that outset-job(5) is generated from is the parser's own.

use outset_job::parse_job;
use outset_job::stanzas::{STANZAS, is_keyword};

#[test]
fn issue18_item5_every_listed_stanza_parses_its_example() {
    for s in STANZAS {
        assert!(
            s.synopsis.starts_with(s.keyword),
            "{}: the synopsis starts with the keyword",
            s.synopsis
        );
        assert!(!s.text.is_empty(), "{} has no description", s.synopsis);
        let first = s.example.split_whitespace().next();
        assert_eq!(first, Some(s.keyword), "{}: example uses it", s.synopsis);
        if let Err(e) = parse_job("example", &format!("{}\n", s.example)) {
            panic!(
                "{}: example {:?} does not parse: {e}",
                s.synopsis, s.example
            );
        }
    }
}

#[test]
fn issue18_item5_a_keyword_not_listed_is_refused() {
    assert!(!is_keyword("bogus"));
    let e = parse_job("x", "bogus thing\n").unwrap_err();
    assert!(e.to_string().contains("unknown stanza `bogus`"), "{e}");
    // Every keyword Upstart's own documentation lists is known.
    for kw in [
        "start",
        "stop",
        "exec",
        "script",
        "respawn",
        "expect",
        "env",
        "console",
        "kill",
        "normal",
        "instance",
        "task",
        "manual",
        "emits",
        "pre-start",
        "post-stop",
        "setuid",
        "limit",
        "oom",
        "umask",
        "nice",
        "chdir",
        "chroot",
        "apparmor",
        "cgroup",
        "usage",
    ] {
        assert!(is_keyword(kw), "{kw}");
    }
}
