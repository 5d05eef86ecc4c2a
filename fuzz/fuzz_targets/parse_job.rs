//! Any bytes: the parser must not panic, and whatever parses must render to text that parses
//! back to the same job.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(job) = outset_job::parse_job("fuzz", &text) {
        let rendered = outset_job::render(&job);
        let back = outset_job::parse_job("fuzz", &rendered);
        assert_eq!(back.as_ref(), Ok(&job), "{rendered}");
    }
});
