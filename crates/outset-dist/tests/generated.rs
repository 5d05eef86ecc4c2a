//! Issue 18 item 5: the committed man pages and completions are what the code generates,
//! and every verb and option of `--help` is in them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use outset_dist::{REGENERATE, completions, man, workspace_root};
use outset_job::stanzas::STANZAS;

fn dist() -> PathBuf {
    workspace_root().join("dist")
}

fn read(rel: &str) -> String {
    let path = dist().join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `{REGENERATE}`", path.display()))
}

/// `PROG --help` as the binary prints it.
fn help(run: fn(Vec<std::ffi::OsString>, &mut Vec<u8>, &mut Vec<u8>) -> i32, prog: &str) -> String {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(vec![prog.into(), "--help".into()], &mut out, &mut err);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap()
}

fn ctl_help() -> String {
    help(
        |args, out, err| outset_ctl::run_with(args, out, err),
        "outsetctl",
    )
}

fn daemon_help() -> String {
    use clap::CommandFactory;
    outset_daemon::args::Args::command()
        .render_long_help()
        .to_string()
}

/// The verbs under `Commands:` in a clap help text.
fn verbs_of(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The long options (`--name`) in a clap help text.
fn long_options_of(help: &str) -> Vec<String> {
    let mut out: Vec<String> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            l.split([' ', ',', '='])
                .find(|w| w.starts_with("--") && w.len() > 2)
                .map(str::to_string)
        })
        .collect();
    out.dedup();
    out
}

#[test]
fn issue18_item5_dist_matches_the_code() {
    let diffs = outset_dist::differences(&dist()).unwrap();
    assert!(
        diffs.is_empty(),
        "dist/ does not match the CLI definitions and the stanza list:\n  {}\nRegenerate with `{REGENERATE}` and commit dist/.",
        diffs.join("\n  ")
    );
}

#[test]
fn issue18_item5_every_verb_of_help_is_in_the_pages_and_completions() {
    let verbs = verbs_of(&ctl_help());
    assert!(verbs.len() > 20, "parsed too few verbs: {verbs:?}");
    for v in [
        "start",
        "status",
        "check-config",
        "shutdown",
        "trace",
        "help",
    ] {
        assert!(verbs.iter().any(|x| x == v), "{v} not in --help: {verbs:?}");
    }
    let main = read("man/man8/outsetctl.8");
    let initctl = read("man/compat/man8/initctl.8");
    let bash = read("completions/bash/outsetctl");
    let zsh = read("completions/zsh/_outsetctl");
    let fish = read("completions/fish/outsetctl.fish");
    for verb in &verbs {
        let roff = verb.replace('-', "\\-");
        assert!(
            main.contains(&format!("outsetctl\\-{roff}(8)")),
            "outsetctl.8 does not list {verb}"
        );
        let page = read(&format!("man/man8/outsetctl-{verb}.8"));
        assert!(
            page.starts_with(".ie") && page.contains(&format!(".TH outsetctl-{verb} 8")),
            "outsetctl-{verb}.8 is not its page"
        );
        assert!(
            initctl.contains(&format!("\\fB{roff}\\fR")),
            "initctl.8 does not list {verb}"
        );
        assert!(
            bash.contains(&format!("outsetctl,{verb})")),
            "bash completion lacks {verb}"
        );
        assert!(
            zsh.contains(&format!("'{verb}:")),
            "zsh completion lacks {verb}"
        );
        assert!(
            fish.contains(&format!("-a \"{verb}\"")),
            "fish completion lacks {verb}"
        );
    }
}

#[test]
fn issue18_item5_every_option_is_in_the_pages_and_completions() {
    let cases = [
        (
            ctl_help(),
            "man/man8/outsetctl.8",
            completions_of("outsetctl"),
        ),
        (daemon_help(), "man/man8/outset.8", completions_of("outset")),
    ];
    for (help, page, scripts) in cases {
        let options = long_options_of(&help);
        assert!(
            options.len() > 5,
            "parsed too few options from {page}'s help"
        );
        let page_text = read(page);
        for opt in &options {
            assert!(
                page_text.contains(&format!("\\fB{}\\fR", opt.replace('-', "\\-"))),
                "{page} lacks {opt}"
            );
            for (name, text) in &scripts {
                // fish names long options without their dashes (`-l name`).
                let found =
                    text.contains(opt.as_str()) || text.contains(&format!("-l {}", &opt[2..]));
                assert!(found, "{name} lacks {opt}");
            }
        }
    }
}

fn completions_of(bin: &str) -> Vec<(String, String)> {
    completions::SHELLS
        .iter()
        .map(|&shell| {
            let rel = PathBuf::from("completions").join(completions::file_name(shell, bin));
            let rel = rel.to_string_lossy().into_owned();
            let text = read(&rel);
            (rel, text)
        })
        .collect()
}

#[test]
fn issue18_item5_every_verb_page_has_the_verbs_options() {
    let ctl = man::outsetctl_command();
    for verb in man::verbs(&ctl) {
        let page = read(&format!("man/man8/outsetctl-{}.8", verb.get_name()));
        for arg in verb.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                let flag = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
                assert!(
                    page.contains(&flag),
                    "outsetctl-{} lacks --{long}",
                    verb.get_name()
                );
            }
        }
    }
}

#[test]
fn issue18_item5_each_name_of_the_client_has_a_page() {
    let ctl = man::outsetctl_command();
    for name in man::compat_names() {
        let page = read(&format!("man/compat/man8/{name}.8"));
        assert!(page.contains(&format!(".TH {name} 8")), "{name}.8");
        assert!(page.contains("outsetctl"), "{name}.8 points at outsetctl");
        if name != "initctl" {
            // The verb's own arguments and the client's global options.
            let verb = ctl.find_subcommand(name).unwrap();
            let about = verb.get_about().unwrap().to_string();
            let first = about.split_whitespace().next().unwrap();
            assert!(page.contains(first), "{name}.8 lacks its description");
            assert!(
                page.contains("\\fB\\-\\-socket\\fR"),
                "{name}.8 lacks --socket"
            );
        }
    }
}

#[test]
fn issue18_item5_job_page_documents_every_stanza() {
    let page = read("man/man5/outset-job.5");
    // The parser refuses every keyword outside STANZAS (outset-job's stanza_list tests), so
    // this covers every stanza it accepts.
    for s in STANZAS {
        let entry = format!(
            ".TP\n\\fB{}\\fR",
            s.synopsis.replace('\\', "\\e").replace('-', "\\-")
        );
        assert!(page.contains(&entry), "outset-job.5 lacks `{}`", s.synopsis);
    }
    let mut keywords: Vec<&str> = STANZAS.iter().map(|s| s.keyword).collect();
    keywords.dedup();
    assert!(keywords.len() >= 40, "{keywords:?}");
}

#[test]
fn issue18_item5_pages_refer_only_to_pages_that_exist() {
    let pages = outset_dist::man::pages();
    let exists = |name: &str, sec: &str| {
        pages
            .iter()
            .any(|p| p.path.file_name().and_then(|f| f.to_str()) == Some(&format!("{name}.{sec}")))
            || ["fnmatch"].contains(&name)
    };
    let mut checked = 0;
    for page in &pages {
        let text = String::from_utf8_lossy(&page.bytes)
            .replace("\\fB", "")
            .replace("\\fR", "");
        // Every `outset…(N)` reference: `outsetctl\-start(8)`, `outset\-job(5)`, ….
        for (at, _) in text.match_indices("outset") {
            let rest = &text[at..];
            let Some(open) = rest.find('(') else { continue };
            let name = rest[..open].replace("\\-", "-");
            if name.contains(char::is_whitespace) || !rest[open..].starts_with("(") {
                continue;
            }
            let Some(sec) = rest[open + 1..].split(')').next() else {
                continue;
            };
            if !(sec == "5" || sec == "8") {
                continue;
            }
            checked += 1;
            assert!(
                exists(&name, sec),
                "{} refers to {name}({sec}), which is no page",
                page.path.display()
            );
        }
    }
    assert!(checked > 50, "only {checked} references seen");
}

/// What bash offers for the words of `line` with the committed completion loaded.
fn bash_complete(line: &str) -> Vec<String> {
    let script = dist().join("completions/bash/outsetctl");
    let words: Vec<&str> = line.split(' ').collect();
    let prog = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}; \
         _outsetctl outsetctl '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        words.len() - 1,
        line.len(),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &prog])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn issue18_item5_bash_completion_completes_verbs_and_options() {
    let mut verbs = bash_complete("outsetctl st");
    verbs.sort();
    assert_eq!(verbs, ["start", "status", "stop"]);
    let options = bash_complete("outsetctl check-config --s");
    for o in ["--show", "--syntax-only", "--socket"] {
        assert!(
            options.iter().any(|x| x == o),
            "{o} not offered: {options:?}"
        );
    }
}
