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

// The hardening suite's bounded property run (issue 10): generated job files with random
// nesting, long chains and odd tokens never panic the parser; what parses renders back to
// itself; what does not gets an error positioned inside the file.

use proptest::prelude::*;

/// Checks one text: no panic, a round trip for what parses, a position for what does not.
fn judge(text: &str) -> Result<JobConfig, ParseError> {
    let r = parse_job("t", text);
    match &r {
        Ok(j) => {
            let rendered = render(j);
            assert_eq!(parse_job("t", &rendered).as_ref(), Ok(j), "{rendered}");
        }
        Err(e) => {
            let lines = text.split('\n').count();
            assert!(e.line >= 1 && e.line <= lines, "{e} (of {lines} lines)");
            assert!(e.col >= 1, "{e}");
            assert!(!e.message.is_empty());
        }
    }
    r
}

fn odd_token() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,6}",
        Just("\"and\"".to_string()),
        Just("'or'".to_string()),
        Just("\"\"".to_string()),
        Just("\\(".to_string()),
        Just("K=v".to_string()),
        Just("K!=".to_string()),
        Just("=v".to_string()),
        Just("J=${A:-${B:+x}}".to_string()),
        Just("${".to_string()),
        Just("[!06]".to_string()),
        Just("é☃".to_string()),
        Just("a\tb".to_string()),
        Just("\\\n".to_string()),
        Just("#c".to_string()),
        Just("\r".to_string()),
        Just("\u{0}".to_string()),
    ]
}

/// An expression: `open` parentheses, a chain of operands (some with odd arguments) joined by
/// random operators and line breaks, then `close` parentheses.
fn expression() -> impl Strategy<Value = (usize, usize, String)> {
    (
        0usize..300,
        -2isize..2,
        prop::collection::vec(
            (
                "[a-z]{1,4}",
                prop::collection::vec(odd_token(), 0..2),
                prop_oneof![Just(" and "), Just(" or "), Just(" and\n"), Just(" or\n  ")],
            ),
            1..320,
        ),
    )
        .prop_map(|(open, skew, ops)| {
            let close = open.saturating_add_signed(skew);
            let n = ops.len();
            let mut s = "(".repeat(open);
            for (i, (name, args, op)) in ops.into_iter().enumerate() {
                s.push_str(&name);
                for a in args {
                    s.push(' ');
                    s.push_str(&a);
                }
                if i + 1 < n {
                    s.push_str(op);
                }
            }
            s.push_str(&")".repeat(close));
            (open, n, s)
        })
}

fn stanza() -> impl Strategy<Value = String> {
    prop_oneof![
        expression().prop_map(|(_, _, e)| format!("start on {e}")),
        expression().prop_map(|(_, _, e)| format!("stop on {e}")),
        (0usize..40, odd_token()).prop_map(|(n, t)| format!(
            "instance {}{t}{}",
            "${A:-".repeat(n),
            "}".repeat(n)
        )),
        prop::collection::vec(
            prop_oneof![
                "-?[0-9]{1,3}",
                "\\+[0-9]",
                "(SIG)?[A-Z]{2,5}",
                "SIG[0-9]{1,2}",
                odd_token()
            ],
            1..4
        )
        .prop_map(|v| format!("normal exit {}", v.join(" "))),
        ("-?[0-9]{1,2}|[A-Z]{3,4}|SIG[0-9]{1,2}").prop_map(|s| format!("kill signal {s}")),
        (odd_token(), odd_token()).prop_map(|(k, v)| format!("env {k}={v}")),
        (1usize..3000).prop_map(|n| (0..n)
            .map(|i| format!("env V{i}=x"))
            .collect::<Vec<_>>()
            .join("\n")),
        odd_token().prop_map(|t| format!("exec /bin/{t}")),
        prop::collection::vec(odd_token(), 0..4)
            .prop_map(|v| format!("script\n  {}\nend script", v.join(" "))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn issue10_generated_expressions_parse_or_fail_clearly((open, n, e) in expression()) {
        let r = judge(&format!("start on {e}\n"));
        if let Err(err) = &r
            && err.message.contains("too deep")
        {
            prop_assert!(open > MAX_EXPR_DEPTH || n > MAX_EXPR_DEPTH, "{err}");
        }
    }

    #[test]
    fn issue10_generated_job_files_parse_or_fail_clearly(
        stanzas in prop::collection::vec(stanza(), 0..6)
    ) {
        let _ = judge(&stanzas.join("\n"));
    }
}
