//! Issue 18 item 7: `cargo install --path crates/outset` installs outset and outsetctl, not
//! the test helper outset-testd; and the licence files the manifests name are there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use outset_dist::workspace_root;

fn metadata() -> serde_json::Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn issue18_item7_install_leaves_out_testd() {
    let meta = metadata();
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "outset")
        .unwrap();
    let defaults: Vec<&str> = pkg["features"]["default"]
        .as_array()
        .map(|d| d.iter().filter_map(|f| f.as_str()).collect())
        .unwrap_or_default();
    // What `cargo install` builds: every bin whose required features are on by default.
    let mut installed = Vec::new();
    let mut all = Vec::new();
    for t in pkg["targets"].as_array().unwrap() {
        if !t["kind"].as_array().unwrap().iter().any(|k| k == "bin") {
            continue;
        }
        let name = t["name"].as_str().unwrap();
        all.push(name);
        let required: Vec<&str> = t["required-features"]
            .as_array()
            .map(|r| r.iter().filter_map(|f| f.as_str()).collect())
            .unwrap_or_default();
        if required.iter().all(|f| defaults.contains(f)) {
            installed.push(name);
        }
    }
    installed.sort();
    assert_eq!(installed, ["outset", "outsetctl"]);
    // The helper still exists for the tests, behind a feature no default turns on.
    assert!(all.contains(&"outset-testd"), "{all:?}");
    assert!(!defaults.contains(&"testd"));
}

#[test]
fn issue18_item7_licence_files_match_the_manifests() {
    let root = workspace_root();
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("license = \"MIT OR Apache-2.0\""));
    let mit = std::fs::read_to_string(root.join("LICENSE-MIT")).unwrap();
    assert!(mit.starts_with("MIT License"));
    assert!(mit.contains("Copyright (c) 2026 outset contributors"));
    assert!(mit.contains("THE SOFTWARE IS PROVIDED \"AS IS\""));
    let apache = std::fs::read_to_string(root.join("LICENSE-APACHE")).unwrap();
    assert!(
        apache.contains("Apache License\n                           Version 2.0, January 2004")
    );
    assert!(apache.contains("END OF TERMS AND CONDITIONS"));
    // Every crate says the same licence (the workspace's).
    for p in metadata()["packages"].as_array().unwrap() {
        assert_eq!(p["license"], "MIT OR Apache-2.0", "{}", p["name"]);
    }
}
