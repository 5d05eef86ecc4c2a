//! Every job file of the shared corpus parses, and its rendering parses back to the same job.
//!
//! The corpus lives outside the project (`$OUTSET_CORPUS`, or `../shared/corpus/upstart-jobs`
//! from the project root) and is read in place; see `corpus_dir`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use outset_testkit::corpus::{corpus_dir, job_files, resolve};

use outset_job::{
    Arg, EnvEntry, EventMatch, Expect, Expr, JobConfig, Process, RespawnLimit, confdir, parse_job,
    render,
};

struct Corpus {
    root: PathBuf,
    jobs: Vec<(PathBuf, JobConfig)>,
}

impl Corpus {
    fn job(&self, rel: &str) -> &JobConfig {
        &self
            .jobs
            .iter()
            .find(|(p, _)| p == &self.root.join(rel))
            .unwrap_or_else(|| panic!("{rel} not in corpus"))
            .1
    }
}

fn load() -> Option<Corpus> {
    let root = corpus_dir()?;
    let paths = job_files(&root);
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    for p in &paths {
        let text = String::from_utf8_lossy(&fs::read(p).unwrap()).into_owned();
        let name = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        match parse_job(&name, &text) {
            Ok(j) => jobs.push((p.clone(), j)),
            Err(e) => errors.push(format!("{}:{e}", p.display())),
        }
    }
    assert!(
        errors.is_empty(),
        "{} files failed:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert_eq!(jobs.len(), 400, "the corpus holds 400 job files");
    Some(Corpus { root, jobs })
}

fn round_trip(job: &JobConfig, origin: &Path) {
    let text = render(job);
    let back = parse_job(&job.name, &text).unwrap_or_else(|e| {
        panic!(
            "{}: rendering does not parse: {e}\n{text}",
            origin.display()
        )
    });
    assert_eq!(
        &back,
        job,
        "{}: rendering differs:\n{text}",
        origin.display()
    );
}

#[test]
fn corpus_parses_and_round_trips() {
    let Some(c) = load() else { return };
    for (p, job) in &c.jobs {
        round_trip(job, p);
    }
    // Overrides applied over the .conf beside them also round-trip.
    let mut applied = 0;
    for (p, _) in c
        .jobs
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "override"))
    {
        // The job it overrides sits beside it: `x.conf`, `x.conf.in`, `x.user-session.upstart`.
        let stem = format!("{}.", p.file_stem().unwrap().to_string_lossy());
        let Some((_, base)) = c.jobs.iter().find(|(q, _)| {
            q.parent() == p.parent()
                && q.extension().is_none_or(|e| e != "override")
                && q.file_name().unwrap().to_string_lossy().starts_with(&stem)
        }) else {
            continue;
        };
        let text = fs::read_to_string(p).unwrap();
        let (job, err) = confdir::apply_override(base.clone(), &text);
        assert!(err.is_none(), "{}: {err:?}", p.display());
        round_trip(&job, p);
        applied += 1;
    }
    assert!(applied >= 7, "only {applied} override pairs found");
}

fn ev(name: &str, args: Vec<Arg>) -> Expr {
    Expr::Event(EventMatch {
        name: name.into(),
        args,
    })
}

fn pos(v: &str) -> Arg {
    Arg::Positional(v.into())
}

#[test]
fn corpus_sample_values() {
    let Some(c) = load() else { return };

    // A quoted env value spanning lines with backslashes inside.
    let j = c.job("cameronnemo-upstart-jobs/patchram.conf");
    let args = j.env.iter().find(|e| e.key == "PATCHRAM_ARGS").unwrap();
    assert_eq!(
        args.value.as_deref(),
        Some(
            "--patchram /lib/firmware/bcm4330.hcd --no2bytes --scopcm=0,2,0,0,0,0,0,0,0,0 \
             --enable_hci --enable_lpm --baudrate 3000000 --use_baudrate_for_download \
             --tosleep=50000 /dev/ttyHS2"
        )
    );
    assert_eq!(j.expect, Expect::Fork(1));
    assert_eq!(
        j.main,
        Some(Process::Exec(
            "/usr/bin/brcm_patchram_plus $PATCHRAM_ARGS &".into()
        ))
    );
    assert!(j.main.as_ref().unwrap().needs_shell());

    // Backslash-newline inside a word joins it to the next line.
    let j = c.job("chromiumos-platform2/attestationd.conf");
    assert!(j.env.contains(&EnvEntry {
        key: "NEW_ATTESTATION_PATH".into(),
        value: Some("/mnt/stateful_partition/unencrypted/preserve/attestation.epb".into()),
    }));

    // Equal precedence, left to right, across lines inside parentheses.
    let j = c.job("cameronnemo-upstart-jobs/plymouth-stop.conf");
    let expected = ["ubiquity", "oem-config", "uxlaunch"]
        .iter()
        .fold(ev("starting", vec![pos("display-manager")]), |acc, n| {
            Expr::Or(Box::new(acc), Box::new(ev("starting", vec![pos(n)])))
        });
    let expected = Expr::Or(
        Box::new(Expr::Or(
            Box::new(expected),
            Box::new(ev(
                "stopped",
                vec![pos("rc"), Arg::Eq("RUNLEVEL".into(), "[2345]".into())],
            )),
        )),
        Box::new(ev("starting", vec![pos("mountall-shell")])),
    );
    assert_eq!(j.start_on, Some(expected));

    // `start on start on runlevel [2345]` is an event named `start`.
    let j = c
        .jobs
        .iter()
        .find(|(p, _)| p.to_string_lossy().contains("pollinate/"))
        .map(|(_, j)| j)
        .unwrap();
    assert_eq!(
        j.start_on,
        Some(ev("start", vec![pos("on"), pos("runlevel"), pos("[2345]")]))
    );

    // ChromiumOS stanzas and `respawn limit unlimited` style values.
    let j = c.job("chromiumos-platform2/attestationd.conf");
    assert!(!j.imports.is_empty() || j.oom_score.is_some());
    assert!(
        c.jobs
            .iter()
            .any(|(_, j)| j.respawn_limit == RespawnLimit::Unlimited)
    );
    assert!(c.jobs.iter().any(|(_, j)| !j.tmpfiles.is_empty()));

    // An empty override changes nothing.
    let j = c.job("ubports-lxc-android-config/whoopsie.override");
    assert_eq!(j, &JobConfig::new(j.name.clone()));

    // `manual` after `start on` discards it.
    let j = c.job("cameronnemo-upstart-jobs/dhclient.conf");
    assert!(j.manual && j.start_on.is_none());

    // Quoted empty values in matches.
    let j = c.job("ubports-location-service/ubuntu-location-service-trust-stored.conf.in");
    let r = outset_job::render::render_expr(j.start_on.as_ref().unwrap());
    assert!(r.ends_with("ARG2!=)"), "{r}");
}

/// Issue 9 item 17: a clone with only the repository skips the corpus checks (saying so),
/// CI with no corpus fails, and `OUTSET_CORPUS` wins and must exist.
#[test]
fn issue9_item17_corpus_location() {
    let empty = tempfile::tempdir().unwrap();
    let clone = empty.path().join("outset/crates/outset-job");
    fs::create_dir_all(&clone).unwrap();
    assert_eq!(resolve(None, false, &clone), Ok(None));
    assert!(resolve(None, true, &clone).unwrap_err().contains("CI=true"));
    assert!(resolve(Some(""), true, &clone).is_err());
    let missing = empty.path().join("nowhere").display().to_string();
    assert!(resolve(Some(&missing), false, &clone).is_err());

    // `../shared/corpus/upstart-jobs` beside the checkout is found, and so is OUTSET_CORPUS.
    let shared = empty.path().join("shared/corpus/upstart-jobs");
    fs::create_dir_all(&shared).unwrap();
    assert_eq!(resolve(None, true, &clone), Ok(Some(shared.clone())));
    let elsewhere = empty.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let e = elsewhere.display().to_string();
    assert_eq!(resolve(Some(&e), true, &clone), Ok(Some(elsewhere)));
}
