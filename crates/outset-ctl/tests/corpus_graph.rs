//! Issue 18 item 3: `outsetctl graph` over the whole job corpus (`$OUTSET_CORPUS`): the DOT
//! is DOT (by the strict reader, and by Graphviz's `dot` where installed) naming every job,
//! outset's own SVG is well-formed XML naming every job, and every job's neighbourhood
//! renders too, all without a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use outset_ctl::graph::{dot, model, svg};
use outset_job::JobConfig;
use outset_testkit::corpus::{corpus_dir, job_files};

/// Every corpus file that parses, named as its job would be installed: the file's stem
/// (`pkg.name.upstart` is job `name`), with its directory in front when the stem is taken.
fn corpus_jobs(root: &Path) -> Vec<JobConfig> {
    let mut names = BTreeSet::new();
    let mut jobs = Vec::new();
    for p in job_files(root) {
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = file
            .strip_suffix(".conf")
            .or_else(|| file.strip_suffix(".upstart"))
        else {
            continue;
        };
        let stem = stem.rsplit('.').next().unwrap_or(stem).to_string();
        let dir = p
            .parent()
            .and_then(|d| d.strip_prefix(root).ok())
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = if names.contains(&stem) {
            format!("{dir}/{stem}")
        } else {
            stem
        };
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        if let Ok(j) = outset_job::parse_job(&name, &text) {
            names.insert(name);
            jobs.push(j);
        }
    }
    jobs
}

fn graphviz_accepts(text: &str) {
    let dot_bin = Path::new("/usr/bin/dot");
    if !dot_bin.is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Graphviz's dot is not installed, and CI=true forbids skipping (.ci/run installs it)"
        );
        eprintln!("SKIP: Graphviz's dot is not installed: the DOT was only read by outset's check");
        return;
    }
    let mut child = Command::new(dot_bin)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let text = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "dot rejected the graph: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    outset_testkit::xml::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
}

#[test]
fn issue18_item3_whole_corpus_renders_as_dot_and_svg() {
    let Some(root) = corpus_dir() else { return };
    let jobs = corpus_jobs(&root);
    assert!(jobs.len() > 300, "only {} corpus jobs parsed", jobs.len());
    let graph = model::build(&jobs);

    let text = dot::write(&graph);
    let parsed = outset_testkit::dot::parse(&text).unwrap_or_else(|e| panic!("not DOT: {e}"));
    let labels: BTreeSet<&str> = parsed
        .nodes
        .values()
        .filter_map(|a| a.get("label").map(String::as_str))
        .collect();
    for j in &jobs {
        assert!(
            labels.contains(j.name.as_str()),
            "job {} not in the DOT",
            j.name
        );
    }
    for (from, to, _) in &parsed.edges {
        assert!(parsed.nodes.contains_key(from) && parsed.nodes.contains_key(to));
    }
    assert_eq!(parsed.edges.len(), graph.edges.len());
    graphviz_accepts(&text);

    let picture = svg::write(&graph);
    let xml = outset_testkit::xml::parse(&picture).unwrap_or_else(|e| panic!("not XML: {e}"));
    assert_eq!(xml.root, "svg");
    let texts: BTreeSet<&str> = xml.texts.iter().map(String::as_str).collect();
    for j in &jobs {
        assert!(
            texts.contains(j.name.as_str()),
            "job {} not in the SVG",
            j.name
        );
    }

    // Every job's neighbourhood, at depths 1 and 3.
    for j in &jobs {
        for depth in [1, 3] {
            let g = graph.neighbourhood(&j.name, depth).unwrap();
            outset_testkit::dot::parse(&dot::write(&g)).unwrap();
            outset_testkit::xml::parse(&svg::write(&g)).unwrap();
        }
    }
    eprintln!(
        "corpus graph: {} jobs, {} nodes, {} edges",
        jobs.len(),
        graph.nodes.len(),
        graph.edges.len()
    );
}
