//! Any bytes as one sd_notify datagram to an `expect notify` job: the engine must not panic,
//! and the start is answered exactly when a `READY=1` line is there. The harness is shared
//! with the seed replay in `crates/outset-engine/tests/notify_fuzz_seeds.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/outset-engine/tests/support/notify_harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
