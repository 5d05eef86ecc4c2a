//! Any bytes as a D-Bus stream to outset's private socket: the decoder and the EXTERNAL
//! handshake must answer, never panic, and what decodes must re-encode to the same message.
//! The harness is shared with the seed replay in `crates/outset-dbus/tests/fuzz_seeds.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/outset-dbus/tests/support/harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
