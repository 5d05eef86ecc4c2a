//! `check-config --show` on every corpus file: no errors, and each shown job parses back to
//! the job parsed from the original file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use outset_testkit::corpus::{corpus_dir, job_files};

#[test]
fn show_output_reparses_for_the_whole_corpus() {
    let Some(root) = corpus_dir() else {
        return;
    };
    let paths = job_files(&root);
    assert_eq!(paths.len(), 400);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // The corpus gathers jobs of many systems: their events come from elsewhere.
    let opts = outset_ctl::check_config::CheckOptions {
        syntax_only: true,
        ..Default::default()
    };
    let code = outset_ctl::check_config::run(&paths, true, &opts, &mut out, &mut err);
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.ends_with("400 jobs checked, 0 errors\n"), "{err}");
    let sections: Vec<&str> = out.split("# job: ").skip(1).collect();
    assert_eq!(sections.len(), 400);
    for section in sections {
        let (header, body) = section.split_once('\n').unwrap();
        let (name, from) = header.split_once(" (from ").unwrap();
        let from = from.trim_end_matches(')');
        let conf = Path::new(from.split(", ").next().unwrap());
        let shown = outset_job::parse_job(name, body).unwrap_or_else(|e| panic!("{from}: {e}"));
        let (loaded, errors) = outset_job::confdir::load_file(conf, name);
        assert!(errors.is_empty());
        assert_eq!(shown, loaded.unwrap().config, "{from}");
    }
}
