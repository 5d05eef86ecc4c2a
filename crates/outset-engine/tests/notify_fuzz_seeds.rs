//! Replays the notify fuzz target's seed corpus (`fuzz/corpus/notify_message`) as an ordinary
//! test, plus a bounded property run over generated messages, so the parser's fuzz coverage
//! runs on stable in CI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/notify_harness.rs"]
mod harness;

use outset_testkit::corpus::fuzz_seeds;

use proptest::prelude::*;

#[test]
fn notify_fuzz_seed_corpus() {
    let mut seen = 0;
    for (path, data) in fuzz_seeds("notify_message") {
        if let Err(e) = std::panic::catch_unwind(|| harness::run(&data)) {
            panic!("{}: {e:?}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 10, "seed corpus notify_message missing");
}

/// Lines an sd_notify sender might write, right and wrong.
fn line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("READY"),
        Just("MAINPID"),
        Just("STATUS"),
        Just("ERRNO"),
        Just("WATCHDOG"),
        Just("EXTEND_TIMEOUT_USEC"),
        Just("STOPPING"),
        Just("RELOADING"),
        Just("FDSTORE"),
        Just("BARRIER"),
        Just("X"),
        Just(""),
    ];
    let value = prop_oneof![
        Just("1".to_string()),
        Just("0".to_string()),
        Just("4343".to_string()),
        Just("18446744073709551615".to_string()),
        Just("-1".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,8}",
    ];
    (key, prop::option::of(value)).prop_map(|(k, v)| match v {
        Some(v) => format!("{k}={v}"),
        None => k.to_string(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn notify_messages_never_panic(
        lines in prop::collection::vec(line(), 0..8),
        sep in prop_oneof![Just("\n"), Just("\r\n"), Just("\0")],
    ) {
        harness::run(lines.join(sep).as_bytes());
    }

    #[test]
    fn notify_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        harness::run(&data);
    }
}
