//! Issue 18 item 8: the documentation site. The project's own docs build with every link
//! resolving, and the link checker reports what is broken with `file:line` (small fixtures).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use outset_docsite::{BuildOptions, Entry, build};

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A docs dir of a repository root in a temp dir: `root/docs/…`.
fn fixture(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let docs = root.path().join("docs");
    for (rel, text) in files {
        write(&docs, rel, text);
    }
    (root, docs)
}

fn run_site(docs: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outset-docsite"))
        .arg("build")
        .arg(out)
        .arg("--docs")
        .arg(docs)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const GOOD: &[(&str, &str)] = &[
    (
        "SUMMARY.md",
        "# Summary\n\n[Intro](intro.md)\n\n# Guides\n\n- [Guide](guide.md)\n  - [Deep](sub/deep.md)\n",
    ),
    (
        "intro.md",
        "# Intro\n\nRead the [guide](guide.md#second-part) and [see below](#notes).\n\n## Notes\n\n![a picture](images/pic.svg)\n",
    ),
    (
        "guide.md",
        "# Guide\n\n## Second part\n\nBack to [the intro](intro.md), on to [deep](sub/deep.md).\nSee <https://example.org/x> too.\n",
    ),
    ("sub/deep.md", "# Deep\n\n[Up](../guide.md#guide)\n"),
    (
        "images/pic.svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>",
    ),
];

#[test]
fn issue18_item8_fixture_builds_pages_nav_prev_next_and_rewritten_links() {
    let (root, docs) = fixture(GOOD);
    let out = root.path().join("site");
    let built = build(&BuildOptions {
        docs: docs.clone(),
        out: out.clone(),
        bin_dir: None,
    })
    .unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(
        built.pages,
        vec!["intro.html", "guide.html", "sub/deep.html"]
    );
    assert_eq!(built.assets, vec!["images/pic.svg"]);
    assert_eq!(built.external.len(), 1);
    assert_eq!(built.external[0].line, 6);
    assert!(out.join("images/pic.svg").is_file());
    assert!(out.join("style.css").is_file());

    let intro = std::fs::read_to_string(out.join("intro.html")).unwrap();
    assert!(
        intro.contains(r#"href="guide.html#second-part""#),
        "{intro}"
    );
    assert!(intro.contains(r#"<h2 id="notes">"#));
    assert!(intro.contains(r#"rel="next" href="guide.html""#));
    assert!(!intro.contains(r#"rel="prev""#));
    assert!(!intro.contains("<script"));
    // The front page is the first chapter.
    assert_eq!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        intro
    );
    let deep = std::fs::read_to_string(out.join("sub/deep.html")).unwrap();
    assert!(deep.contains(r#"href="../style.css""#));
    assert!(deep.contains(r#"href="../guide.html#guide""#));
    assert!(deep.contains(r#"class="current" aria-current="page" href="../sub/deep.html""#));
    assert!(deep.contains(r#"rel="prev" href="../guide.html""#));
}

#[test]
fn issue18_item8_broken_links_are_reported_with_file_and_line() {
    let mut files: Vec<(&str, &str)> = GOOD.to_vec();
    files[2] = (
        "guide.md",
        "# Guide\n\n## Second part\n\nBroken: [nothing](missing.md),\n[bad anchor](intro.md#no-such-heading) and\n![no picture](images/none.svg), [here](#nowhere), [out](../README.md).\n",
    );
    let (root, docs) = fixture(&files);
    let o = run_site(&docs, &root.path().join("site"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let guide = docs.join("guide.md");
    let g = guide.display();
    for expected in [
        format!("{g}:5: broken link `missing.md`: no page missing.md"),
        format!(
            "{g}:6: broken link `intro.md#no-such-heading`: no heading with id `no-such-heading` in intro.md"
        ),
        format!("{g}:7: broken link `images/none.svg`: no file images/none.svg"),
        format!("{g}:7: broken link `#nowhere`: no heading with id `nowhere` in guide.md"),
        format!("{g}:7: broken link `../README.md`: points outside the docs directory"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("5 problem(s)"), "{err}");
}

#[test]
fn issue18_item8_pages_missing_from_summary_are_reported_unless_excluded() {
    let mut files: Vec<(&str, &str)> = GOOD.to_vec();
    files.push(("orphan.md", "# Orphan\n"));
    files.push(("notes.md", "# Notes\n"));
    files.push(("site.conf", "[exclude]\nnotes.md\n"));
    let (root, docs) = fixture(&files);
    let o = run_site(&docs, &root.path().join("site"), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}: not in SUMMARY.md",
            docs.join("orphan.md").display()
        )),
        "{err}"
    );
    assert!(!err.contains("notes.md"), "{err}");
    assert!(err.contains("1 problem(s)"), "{err}");

    // A link to the excluded page is broken: it is not on the site.
    files.push(("sub/deep.md", "# Deep\n\n[Notes](../notes.md)\n"));
    files.retain(|(name, _)| *name != "orphan.md");
    let (root, docs) = fixture(&files);
    let o = run_site(&docs, &root.path().join("site"), &[]);
    assert!(
        stderr(&o).contains(&format!(
            "{}:3: broken link `../notes.md`: notes.md is excluded from the site",
            docs.join("sub/deep.md").display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn issue18_item8_summary_entries_must_exist() {
    let mut files: Vec<(&str, &str)> = GOOD.to_vec();
    files[0] = (
        "SUMMARY.md",
        "# Summary\n\n[Intro](intro.md)\n- [Guide](guide.md)\n  - [Deep](sub/deep.md)\n- [Gone](gone.md)\n",
    );
    let (root, docs) = fixture(&files);
    let o = run_site(&docs, &root.path().join("site"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "{}:6: `gone.md`: no such file",
            docs.join("SUMMARY.md").display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn issue18_item8_external_links_are_listed_not_fetched() {
    let (root, docs) = fixture(GOOD);
    let o = run_site(&docs, &root.path().join("site"), &["--list-external"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "{}:6: https://example.org/x\n",
            docs.join("guide.md").display()
        )
    );
}

#[test]
fn issue18_item8_generate_commands_make_assets_pages_can_use() {
    let mut files: Vec<(&str, &str)> = GOOD.to_vec();
    files[3] = (
        "sub/deep.md",
        "# Deep\n\n![graph](../images/made.svg) and [the tool's word](../images/tool.txt)\n",
    );
    files.push((
        "site.conf",
        "[generate]\nimages/made.svg = printf '<svg xmlns=\"http://www.w3.org/2000/svg\"/>'\nimages/tool.txt = mytool --version\n",
    ));
    let (root, docs) = fixture(&files);
    // A program found only in the bin dir, as outsetctl is found in target/debug.
    let bin = root.path().join("bin");
    write(
        &bin,
        "mytool",
        "#!/bin/sh\necho \"mytool 1.0 in $(basename \"$PWD\")\"\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("mytool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = root.path().join("site");
    let o = run_site(&docs, &out, &["--bin-dir", bin.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("images/made.svg")).unwrap(),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
    );
    // Run in the repository root: the docs dir's parent.
    let root_name = root
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        std::fs::read_to_string(out.join("images/tool.txt")).unwrap(),
        format!("mytool 1.0 in {root_name}\n")
    );
}

#[test]
fn issue18_item8_a_failing_generate_command_fails_the_build_clearly() {
    let mut files: Vec<(&str, &str)> = GOOD.to_vec();
    files.push((
        "site.conf",
        "[site]\ntitle = T\n\n[generate]\nimages/graph.svg = sh -c 'echo \"error: unrecognized subcommand graph\" >&2; exit 2'\n",
    ));
    let (root, docs) = fixture(&files);
    let o = run_site(&docs, &root.path().join("site"), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let conf = docs.join("site.conf");
    assert!(
        err.contains(&format!("{}:5: `sh -c", conf.display())),
        "{err}"
    );
    assert!(
        err.contains("failed (exit status 2) while generating images/graph.svg"),
        "{err}"
    );
    assert!(
        err.contains("error: unrecognized subcommand graph"),
        "{err}"
    );
    assert!(!root.path().join("site/images/graph.svg").exists());
}

/// The target dir's debug (or other profile) directory, where cargo puts `outsetctl`.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_outset-docsite"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn issue18_item8_project_docs_build_and_every_summary_entry_has_a_page() {
    let bins = bin_dir();
    // site.conf runs the freshly built outsetctl; build it when this test runs alone
    // (`cargo nextest run --workspace` has built it already).
    if !bins.join("outsetctl").exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "outset", "--bin", "outsetctl"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let out = tempfile::tempdir().unwrap();
    let o = run_site(&docs, out.path(), &["--bin-dir", bins.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let summary_text = std::fs::read_to_string(docs.join("SUMMARY.md")).unwrap();
    let summary = outset_docsite::parse_summary(&summary_text).unwrap();
    let mut chapters = 0;
    for entry in &summary.entries {
        if let Entry::Chapter { title, path, .. } = entry {
            chapters += 1;
            let html = out.path().join(path.replace(".md", ".html"));
            let page = std::fs::read_to_string(&html)
                .unwrap_or_else(|e| panic!("{}: {e}", html.display()));
            // Its title is in the navigation of every page, and its body is not empty.
            let title = title
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('\'', "&#39;");
            assert!(page.contains(&format!("{title}</a>")), "{path}");
            assert!(page.contains("<h1"), "{path} has no heading");
        }
    }
    assert!(chapters >= 20, "only {chapters} chapters");
    assert!(out.path().join("index.html").is_file());
    let version = std::fs::read_to_string(out.path().join("images/outsetctl-version.txt")).unwrap();
    assert!(version.starts_with("outsetctl"), "{version}");
}
