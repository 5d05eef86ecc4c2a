//! Replays the fuzz target's seed corpus (`fuzz/corpus/parse_job`) as an ordinary test: no
//! panic, and every job that parses renders to text that parses back to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

#[test]
fn fuzz_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_job");
    let mut seen = 0;
    let mut parsed = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
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
    assert!(seen >= 10, "seed corpus missing: {}", dir.display());
    assert!(
        parsed >= 8 && parsed < seen,
        "{parsed} of {seen} seeds parsed"
    );
}
