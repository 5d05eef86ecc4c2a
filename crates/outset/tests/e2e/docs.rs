//! The README and docs say what the code does: the claims that drifted before (issue 9
//! items 19 and 20) are checked against the code here.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{OUTSET, OUTSETCTL, require_root_cgroup2};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap()
}

/// Splits a shell command line into words: plain words and '…' quotes, enough for the
/// README's examples.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Issue 9 item 19: the README's `trace` example runs on any machine (it named
/// /usr/sbin/nginx, absent from a fresh one) and prints what its comment says.
#[test]
fn issue9_item19_readme_trace_example_runs_anywhere() {
    let readme = read("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run --bin outsetctl -- trace -- "))
        .expect("the README shows a trace example");
    let (cmd, comment) = line.split_once('#').unwrap_or((line, ""));
    let argv = words(
        cmd.trim()
            .strip_prefix("cargo run --bin outsetctl -- trace -- ")
            .unwrap(),
    );
    let program = &argv[0];
    let found = program.contains('/') && Path::new(program).is_file()
        || std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|d| Path::new(d).join(program).is_file());
    assert!(found, "{program} is not on this machine: {line}");
    let expected = comment.trim();
    assert!(
        !expected.is_empty(),
        "the example says what it prints: {line}"
    );
    if require_root_cgroup2().is_none() {
        return;
    }
    let out = Command::new(OUTSETCTL)
        .args(["trace", "--timeout", "3", "--"])
        .args(&argv)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(expected), "{line}\nprinted:\n{text}");
}

/// Issue 9 item 20, then issue 14 item 1: `--help` says what `--logdir` is for and its
/// defaults.
#[test]
fn issue9_item20_help_says_what_logdir_is() {
    let out = Command::new(OUTSET).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let logdir = help
        .split("--logdir")
        .nth(1)
        .and_then(|rest| rest.split("\n  -").next())
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(logdir.contains("console log"), "{help}");
    assert!(logdir.contains("/var/log/outset"), "{help}");
}

/// The `name::` paths a crate's sources (and for `outset`, its benchmarks) use.
fn uses(krate: &str, dep: &str) -> bool {
    let ident = format!("{}::", dep.replace('-', "_"));
    let dir = repo().join("crates").join(krate);
    let mut stack = vec![dir.join("src"), dir.join("benches")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && std::fs::read_to_string(&p).unwrap().contains(&ident)
            {
                return true;
            }
        }
    }
    false
}

/// Issue 9 item 20: every dependency docs/architecture.md gives a crate is declared in its
/// Cargo.toml and used by its code (the table listed crates that were not).
#[test]
fn issue9_item20_architecture_dependencies_are_real() {
    let doc = read("docs/architecture.md");
    let mut rows = 0;
    for line in doc.lines().filter(|l| l.starts_with("| `outset")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let krate = cells[1].trim_matches('`');
        let manifest = read(&format!("crates/{krate}/Cargo.toml"));
        let deps = manifest
            .split("[dependencies]")
            .nth(1)
            .unwrap()
            .split("\n[")
            .next()
            .unwrap();
        for dep in cells[3]
            .split([',', ';'])
            .map(|d| d.split('(').next().unwrap().trim().trim_matches('`'))
            .filter(|d| !d.is_empty())
        {
            assert!(
                deps.lines().any(|l| l.starts_with(&format!("{dep}."))
                    || l.starts_with(&format!("{dep} "))),
                "architecture.md: {krate} depends on {dep}, which its Cargo.toml does not declare"
            );
            assert!(
                uses(krate, dep),
                "architecture.md: {krate} depends on {dep}, which its code does not use"
            );
        }
        rows += 1;
    }
    let crates = std::fs::read_dir(repo().join("crates")).unwrap().count();
    assert_eq!(rows, crates, "one row per crate");
}

/// The methods of `trait NAME` in the engine's types.rs, in order.
fn trait_methods(name: &str) -> Vec<String> {
    let types = read("crates/outset-engine/src/types.rs");
    let body = types
        .split(&format!("pub trait {name} {{"))
        .nth(1)
        .unwrap()
        .split("\n}")
        .next()
        .unwrap()
        .to_string();
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("fn "))
        .map(|l| l.split('(').next().unwrap().to_string())
        .collect()
}

/// The methods a table of docs/architecture.md lists, the table following `heading`.
fn documented_methods(heading: &str) -> Vec<String> {
    let doc = read("docs/architecture.md");
    let table = doc
        .split(heading)
        .nth(1)
        .unwrap()
        .split("\n\n")
        .nth(1)
        .unwrap()
        .to_string();
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l.split('(').next().unwrap().to_string())
        .filter(|m| m != "method")
        .collect()
}

/// Issue 9 item 20: the `Effects` table in docs/architecture.md lists every method of the
/// trait (it lacked `pid_file`); issue 12 item 2: so does the `Probe` table.
#[test]
fn issue9_item20_architecture_lists_every_effect() {
    let effects = trait_methods("Effects");
    assert!(effects.len() >= 5, "{effects:?}");
    assert_eq!(
        documented_methods("Effects (what the engine asks"),
        effects,
        "docs/architecture.md's Effects table"
    );
    let probes = trait_methods("Probe");
    assert!(probes.len() >= 3, "{probes:?}");
    assert_eq!(
        documented_methods("Probes (what the engine reads"),
        probes,
        "docs/architecture.md's Probe table"
    );
}

/// Every `.rs` file under `crates/*/src`, with its text.
fn crate_sources() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = std::fs::read_dir(repo().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("src"))
        .collect();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out
}

/// Issue 12 items 4 and 5: `outset-sys` holds no tracer application logic (report types,
/// the list of ptrace tools live in `outset-trace`), `/proc/net` is parsed in one place, and
/// there is one exit-status type.
#[test]
fn issue12_items4_5_one_of_each_and_no_tracer_in_sys() {
    let sources = crate_sources();
    let in_crate = |p: &PathBuf, krate: &str| p.starts_with(repo().join("crates").join(krate));
    for (p, text) in &sources {
        if in_crate(p, "outset-sys") {
            for app in ["TraceReport", "TraceOptions", "PTRACE_TOOLS", "ListenSeen"] {
                assert!(!text.contains(app), "{} holds {app}", p.display());
            }
        }
    }
    let parsers: Vec<_> = sources
        .iter()
        .filter(|(_, t)| t.contains("\"/proc/net"))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert_eq!(parsers.len(), 1, "/proc/net read in {parsers:?}");
    assert!(parsers[0].ends_with("outset-sys/src/net.rs"), "{parsers:?}");
    let exit_types: Vec<_> = sources
        .iter()
        .filter(|(_, t)| t.contains("pub enum ExitStatus") || t.contains("pub enum ChildEvent"))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert_eq!(exit_types.len(), 1, "{exit_types:?}");
    assert!(
        exit_types[0].ends_with("outset-proto/src/exit.rs"),
        "{exit_types:?}"
    );
}

/// Every `` `a::b` `` path the docs name ends in something the code defines (a `fn`, a
/// `mod`, a type, trait or variant), and every repository path they give exists.
fn unresolved_names(doc: &str, sources: &[(PathBuf, String)]) -> Vec<String> {
    let mut missing = Vec::new();
    for token in doc.split('`').skip(1).step_by(2) {
        let token = token.trim_end_matches("()");
        if token.starts_with("crates/") || token.starts_with("fuzz/") {
            let path = token.trim_end_matches('/');
            if !token.contains(['<', '*', '{', ' ']) && !repo().join(path).exists() {
                missing.push(token.to_string());
            }
            continue;
        }
        let segments: Vec<&str> = token.split("::").collect();
        if segments.len() < 2
            || !segments
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            continue;
        }
        let last = *segments.last().unwrap();
        let defined = [
            format!("fn {last}("),
            format!("fn {last}<"),
            format!("mod {last};"),
            format!("mod {last} {{"),
            format!("struct {last}"),
            format!("enum {last}"),
            format!("trait {last}"),
            format!("type {last}"),
            format!("    {last}("),
            format!("    {last},"),
            format!("    {last} {{"),
            format!("const {last}:"),
        ];
        let found = sources.iter().any(|(p, t)| {
            p.ends_with(format!("{last}.rs")) || defined.iter().any(|d| t.contains(d))
        });
        if !found {
            missing.push(token.to_string());
        }
    }
    missing
}

/// Issue 12 item 9: the architecture doc's worked example, and the other docs, name functions,
/// types and files that exist (they named a removed `engine.rs` and test paths that moved).
#[test]
fn issue12_item9_docs_name_what_exists() {
    let sources = crate_sources();
    let mut docs = vec!["README.md".to_string()];
    for e in std::fs::read_dir(repo().join("docs")).unwrap().flatten() {
        docs.push(format!("docs/{}", e.file_name().to_string_lossy()));
    }
    let mut checked = 0;
    for doc in &docs {
        let text = read(doc);
        checked += text.matches("::").count();
        let missing = unresolved_names(&text, &sources);
        assert!(
            missing.is_empty(),
            "{doc} names what does not exist: {missing:?}"
        );
    }
    assert!(checked > 50, "only {checked} paths checked");
    // The check itself catches a stale name.
    assert_eq!(
        unresolved_names(
            "`Engine::change_state_inner` `crates/outset/tests/lifecycle.rs`",
            &sources
        ),
        vec![
            "Engine::change_state_inner",
            "crates/outset/tests/lifecycle.rs"
        ]
    );
}
