//! Replays the fuzz target's seed corpus (`fuzz/corpus/parse_job`) as an ordinary test: no
//! panic, and every job that parses renders to text that parses back to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_testkit::corpus::fuzz_seeds;

#[test]
fn fuzz_seed_corpus() {
    let mut seen = 0;
    let mut parsed = 0;
    for (path, data) in fuzz_seeds("parse_job") {
        let text = String::from_utf8_lossy(&data).into_owned();
        seen += 1;
        if let Ok(job) = outset_job::parse_job("fuzz", &text) {
            parsed += 1;
            let rendered = outset_job::render(&job);
            assert_eq!(
                outset_job::parse_job("fuzz", &rendered).as_ref(),
                Ok(&job),
                "{}: {rendered}",
                path.display()
            );
        }
    }
    assert!(seen >= 10, "seed corpus parse_job missing");
    assert!(
        parsed >= 8 && parsed < seen,
        "{parsed} of {seen} seeds parsed"
    );
}
