//! Replays the `dbus_message` fuzz target's seed corpus (`fuzz/corpus/dbus_message`) as an
//! ordinary test, plus bounded property runs, so the decoder's fuzz coverage runs on stable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/harness.rs"]
mod harness;

use outset_testkit::corpus::fuzz_seeds;
use proptest::prelude::*;

#[test]
fn dbus_fuzz_seed_corpus() {
    let mut seen = 0;
    for (path, data) in fuzz_seeds("dbus_message") {
        if let Err(e) = std::panic::catch_unwind(|| harness::run(&data)) {
            panic!("{}: {e:?}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 5, "seed corpus dbus_message missing");
}

proptest! {
    #[test]
    fn any_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        harness::run(&data);
    }

    /// A seed with one byte changed: close enough to valid to reach the body decoder.
    #[test]
    fn mangled_seeds(pick in 0usize..64, at in 0usize..4096, byte in any::<u8>()) {
        let seeds = fuzz_seeds("dbus_message");
        let (_, mut data) = seeds[pick % seeds.len()].clone();
        if !data.is_empty() {
            let i = at % data.len();
            data[i] = byte;
        }
        harness::run(&data);
    }
}

/// The seeds of well-formed messages really are: they reach the body decoder and back.
#[test]
fn well_formed_seeds_decode() {
    for (path, data) in fuzz_seeds("dbus_message") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let ok = outset_dbus::message::decode(&data);
        match name.as_str() {
            "empty" | "auth_then_call" | "bad_boolean" => assert!(ok.is_err(), "{name}"),
            _ => assert!(ok.is_ok(), "{name}: {ok:?}"),
        }
    }
}
