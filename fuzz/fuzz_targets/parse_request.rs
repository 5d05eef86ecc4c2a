//! Any bytes as a control request line: the parser must not panic, for a caller with or
//! without the right to change things; a refusal for lack of right comes only for a change
//! verb; whatever parses is within the limits and re-encodes to a line that parses back to
//! the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outset_proto::{Refusal, parse_request, parse_request_as};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    for may_change in [false, true] {
        match parse_request_as(&line, may_change) {
            Ok(req) => {
                assert!(may_change || !req.command.needs_right());
                let text = serde_json::to_string(&req).expect("a request encodes");
                assert_eq!(parse_request(&text), Ok(req), "{text}");
            }
            Err(Refusal::Denied) => assert!(!may_change),
            Err(Refusal::Invalid(e)) => assert!(!e.is_empty()),
        }
    }
});
