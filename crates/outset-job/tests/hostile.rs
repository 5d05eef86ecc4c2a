//! Hostile job files (issue 10): input deep or large enough to overflow a stack or the
//! kernel's exec limits is refused with a positioned error, never recursed into.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_job::expand::MAX_EXPAND_DEPTH;
use outset_job::parse::{MAX_ENV_BYTES, MAX_ENV_ENTRIES};
use outset_job::*;

fn error(text: &str) -> ParseError {
    parse_job("t", text).map(|_| ()).unwrap_err()
}

fn chain(n: usize, op: &str) -> String {
    (0..n)
        .map(|i| format!("e{i}"))
        .collect::<Vec<_>>()
        .join(&format!(" {op} "))
}

#[test]
fn issue10_item10_deep_parentheses_are_refused() {
    let n = 30_000;
    let text = format!("start on {}a{}\n", "(".repeat(n), ")".repeat(n));
    let e = error(&text);
    assert_eq!((e.line, e.col), (1, 10 + MAX_EXPR_DEPTH), "{e}");
    assert!(e.message.contains("nested too deep"), "{e}");
    // The bound itself parses, renders and parses back.
    let ok = format!(
        "start on {}a{}\n",
        "(".repeat(MAX_EXPR_DEPTH),
        ")".repeat(MAX_EXPR_DEPTH)
    );
    let j = parse_job("t", &ok).unwrap();
    assert_eq!(parse_job("t", &render(&j)).unwrap(), j);
}

#[test]
fn issue10_item10_long_flat_chain_is_refused() {
    for op in ["and", "or"] {
        let e = error(&format!("start on {}\n", chain(50_000, op)));
        assert_eq!(e.line, 1);
        assert!(e.message.contains("expression too deep"), "{e}");
        // The operator that crossed the bound is the one named: MAX_EXPR_DEPTH + 1 of them.
        let text = format!("start on {}\n", chain(MAX_EXPR_DEPTH + 2, op));
        let e = error(&text);
        let before = format!("e{} ", MAX_EXPR_DEPTH);
        let col = text.find(&format!("{before}{op}")).unwrap() + before.len() + 1;
        assert_eq!(e.col, col, "{e}");
        // MAX_EXPR_DEPTH operators are fine, and round-trip through rendering.
        let j = parse_job("t", &format!("stop on {}\n", chain(MAX_EXPR_DEPTH + 1, op))).unwrap();
        assert_eq!(parse_job("t", &render(&j)).unwrap(), j);
    }
    // A chain spread over lines inside parentheses is the same expression.
    let text = format!("start on ({})\n", chain(MAX_EXPR_DEPTH + 5, "and\n"));
    assert!(error(&text).message.contains("expression too deep"));
}

#[test]
fn issue10_item10_deep_instance_template_is_refused() {
    let n = 100_000;
    let text = format!(
        "description d\ninstance {}x{}\n",
        "${A:-".repeat(n),
        "}".repeat(n)
    );
    let e = error(&text);
    assert_eq!((e.line, e.col), (2, 10), "{e}");
    assert!(e.message.contains("nested too deep"), "{e}");
    let ok = format!(
        "instance {}x{}\n",
        "${A:-".repeat(MAX_EXPAND_DEPTH),
        "}".repeat(MAX_EXPAND_DEPTH)
    );
    assert!(parse_job("t", &ok).is_ok());
    // The same in a `stop on` value, which the engine expands against the instance.
    let text = format!(
        "stop on down IFACE={}x{}\n",
        "${A:-".repeat(n),
        "}".repeat(n)
    );
    let e = error(&text);
    assert_eq!((e.line, e.col), (1, 14), "{e}");
}

#[test]
fn issue10_item11_signal_zero_is_not_a_normal_exit() {
    for bad in ["-0", "SIG0", "+15", "-15"] {
        let e = error(&format!("normal exit {bad}\n"));
        assert_eq!(
            e.to_string(),
            format!("1:13: `{bad}` is neither an exit status nor a signal")
        );
    }
    // What does parse renders back to itself.
    let j = parse_job("t", "normal exit 0 TERM 40 SIG33 2\n").unwrap();
    assert_eq!(parse_job("t", &render(&j)).unwrap(), j);
}

#[test]
fn issue10_item12_oversize_environment_is_refused_at_load() {
    let many: String = (0..100_000).map(|i| format!("env V{i}=x\n")).collect();
    let e = error(&many);
    assert_eq!(e.line, MAX_ENV_ENTRIES + 1, "{e}");
    assert!(e.message.contains("too many `env` stanzas"), "{e}");
    let j = parse_job(
        "t",
        &many
            .lines()
            .take(MAX_ENV_ENTRIES)
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    assert_eq!(j.env.len(), MAX_ENV_ENTRIES);

    let big = "x".repeat(100 * 1024);
    let text: String = (0..(MAX_ENV_BYTES / big.len() + 1))
        .map(|i| format!("env V{i}={big}\n"))
        .collect();
    let e = error(&text);
    assert!(e.message.contains("too large"), "{e}");
    let e = error(&format!("env V={}\n", "y".repeat(128 * 1024)));
    assert_eq!((e.line, e.col), (1, 5));
    assert!(e.message.contains("too long"), "{e}");
}
