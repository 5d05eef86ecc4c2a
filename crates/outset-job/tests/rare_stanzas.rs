//! Issue 11 item 3: the stanzas few jobs use live behind one allocation of `JobConfig`, which
//! reads and writes them as fields; a plain job does not pay for them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use outset_job::confdir::apply_override;
use outset_job::{JobConfig, RareStanzas, Signal, Track, parse_job};

const PLAIN: &str = "start on go\nstop on halt\nconsole none\nexec sleep 1000\n";

#[test]
fn issue11_item3_job_config_is_small_inline() {
    // It was 888 bytes with every stanza inline.
    let size = std::mem::size_of::<JobConfig>();
    assert!(size <= 360, "JobConfig is {size} bytes");
}

#[test]
fn issue11_item3_plain_job_has_no_rare_block_and_reads_defaults() {
    let job = parse_job("j", PLAIN).unwrap();
    assert!(!job.has_rare_stanzas());
    assert_eq!(job.kill_timeout, 5);
    assert_eq!(job.kill_signal, Signal::TERM);
    assert_eq!(job.reload_signal, Signal::HUP);
    assert_eq!(job.track, Track::Cgroup);
    assert!(job.setuid.is_none() && job.limits.is_empty() && job.ready_on.is_none());
    assert_eq!(*job, RareStanzas::DEFAULT);
}

#[test]
fn issue11_item3_rare_stanza_is_read_back() {
    let job = parse_job("j", "exec x\nkill timeout 9\nsetuid nobody\nemits a b\n").unwrap();
    assert!(job.has_rare_stanzas());
    assert_eq!(job.kill_timeout, 9);
    assert_eq!(job.setuid.as_deref(), Some("nobody"));
    assert_eq!(job.emits, vec!["a".to_string(), "b".to_string()]);
    // Everything else keeps its default.
    assert_eq!(job.kill_signal, Signal::TERM);
}

#[test]
fn issue11_item3_equality_ignores_whether_the_block_exists() {
    let plain = parse_job("j", PLAIN).unwrap();
    let mut written = plain.clone();
    written.kill_timeout = 5; // the default, written through DerefMut: allocates the block
    assert!(written.has_rare_stanzas());
    assert_eq!(plain, written);
    written.kill_timeout = 6;
    assert_ne!(plain, written);
}

#[test]
fn issue11_item3_override_back_to_defaults_drops_the_block() {
    let job = parse_job("j", "exec x\nkill timeout 9\n").unwrap();
    let (job, err) = apply_override(job, "kill timeout 5\n");
    assert!(err.is_none());
    assert_eq!(job.kill_timeout, 5);
    assert!(!job.has_rare_stanzas());
}

#[test]
fn issue11_item3_serialized_form_keeps_every_stanza_at_top_level() {
    let job = parse_job("j", "exec x\nkill timeout 9\n").unwrap();
    let v = serde_json::to_value(&job).unwrap();
    assert_eq!(v["kill_timeout"], 9);
    assert_eq!(v["name"], "j");
    assert!(v.get("rare").is_none());
    let back: JobConfig = serde_json::from_value(v).unwrap();
    assert_eq!(back, job);
    let plain = parse_job("j", PLAIN).unwrap();
    let v = serde_json::to_value(&plain).unwrap();
    assert_eq!(v["kill_timeout"], 5);
    let back: JobConfig = serde_json::from_value(v).unwrap();
    assert!(!back.has_rare_stanzas());
    assert_eq!(back, plain);
}

#[test]
fn issue11_item3_parsed_strings_carry_no_spare_capacity() {
    let job = parse_job("j", PLAIN).unwrap();
    match job.main.as_ref().unwrap() {
        outset_job::Process::Exec(s) | outset_job::Process::Script(s) => {
            assert_eq!(s.capacity(), s.len())
        }
    }
    assert_eq!(job.name.capacity(), job.name.len());
}
