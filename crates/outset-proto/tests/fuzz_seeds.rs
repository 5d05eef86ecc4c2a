//! Replays the request fuzz target's seed corpus (`fuzz/corpus/parse_request`) as an
//! ordinary test, with the target's checks: no panic for either kind of caller, a
//! permission refusal only for change verbs, and every parsed request re-encodes to a line
//! that parses back to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_proto::{Refusal, parse_request, parse_request_as};
use outset_testkit::corpus::fuzz_seeds;

/// The fuzz target's body (fuzz/fuzz_targets/parse_request.rs); true when the line parsed.
pub fn check(line: &str) -> bool {
    let mut parsed = false;
    for may_change in [false, true] {
        match parse_request_as(line, may_change) {
            Ok(req) => {
                assert!(may_change || !req.command.needs_right(), "{line}");
                let text = serde_json::to_string(&req).unwrap();
                assert_eq!(parse_request(&text), Ok(req), "{text}");
                parsed |= may_change;
            }
            Err(Refusal::Denied) => assert!(!may_change, "{line}"),
            Err(Refusal::Invalid(e)) => assert!(!e.is_empty(), "{line}"),
        }
    }
    parsed
}

#[test]
fn request_fuzz_seed_corpus() {
    let mut seen = 0;
    let mut parsed = 0;
    for (_, data) in fuzz_seeds("parse_request") {
        let line = String::from_utf8_lossy(&data).into_owned();
        seen += 1;
        parsed += usize::from(check(&line));
    }
    assert!(seen >= 15, "seed corpus parse_request missing");
    assert!(
        parsed >= 10 && parsed < seen,
        "{parsed} of {seen} seeds parsed"
    );
}
