//! The job corpus and the fuzz targets' seed corpora, for the corpus tests of every crate.
//!
//! The job corpus lives outside the repository and is read in place. `.ci/run` exports
//! `OUTSET_CORPUS` (`../shared/corpus/upstart-jobs`); without it the tests look for
//! `shared/corpus/upstart-jobs` beside the checkout or above it. A clone with only the
//! repository has no corpus: the tests then say that they skip, except under `CI=true`,
//! where a missing corpus is a failure (issue 9 item 17).

use std::fs;
use std::path::{Path, PathBuf};

/// The corpus directory, `Ok(None)` to skip, `Err` for a failure.
pub fn resolve(
    env_corpus: Option<&str>,
    ci: bool,
    manifest_dir: &Path,
) -> Result<Option<PathBuf>, String> {
    if let Some(p) = env_corpus.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_dir() {
            Ok(Some(p))
        } else {
            Err(format!("OUTSET_CORPUS={} is not a directory", p.display()))
        };
    }
    let found = manifest_dir
        .ancestors()
        .map(|a| a.join("shared/corpus/upstart-jobs"))
        .find(|p| p.is_dir());
    match found {
        Some(p) => Ok(Some(p)),
        None if ci => Err(format!(
            "the job corpus is missing under CI=true: set OUTSET_CORPUS or put it at \
             ../shared/corpus/upstart-jobs (looked above {})",
            manifest_dir.display()
        )),
        None => Ok(None),
    }
}

/// The corpus for this test run: panics on a failure, prints a SKIP line and returns
/// `None` when there is none (shown by nextest, see `.config/nextest.toml`).
pub fn corpus_dir() -> Option<PathBuf> {
    let env = std::env::var("OUTSET_CORPUS").ok();
    let ci = std::env::var("CI").as_deref() == Ok("true");
    match resolve(env.as_deref(), ci, Path::new(env!("CARGO_MANIFEST_DIR"))) {
        Ok(Some(p)) => {
            eprintln!("corpus: {}", p.display());
            Some(p)
        }
        Ok(None) => {
            eprintln!(
                "SKIP: no job corpus (set OUTSET_CORPUS or put it at ../shared/corpus/upstart-jobs); \
                 the corpus checks did not run"
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Every job file under the corpus root, sorted (its `SOURCES.tsv` index is not a job).
pub fn job_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("corpus dir {}: {e}", dir.display()));
        for e in entries {
            let p = e
                .unwrap_or_else(|e| panic!("corpus dir {}: {e}", dir.display()))
                .path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n != "SOURCES.tsv") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

/// The seed inputs of fuzz target `target` (`fuzz/corpus/<target>`), each with its path.
pub fn fuzz_seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
        .map(|e| {
            let path = e
                .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
                .path();
            let data = fs::read(&path).unwrap_or_else(|e| panic!("seed {}: {e}", path.display()));
            (path, data)
        })
        .collect();
    seeds.sort();
    seeds
}
