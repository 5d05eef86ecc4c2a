//! An engine with the default options over the given job files, and a fake host: the setup
//! the engine's notice and event-fd tests share.

use outset_engine::testing::FakeHost;
use outset_engine::{DEFAULT_PATH, Engine, Options};
use outset_job::parse_job;

pub fn engine(jobs: &[(&str, &str)]) -> (Engine, FakeHost) {
    let mut e = Engine::new(Options {
        base_env: vec![("PATH".into(), DEFAULT_PATH.into())],
        version: "test".into(),
        ..Options::default()
    });
    let mut h = FakeHost::default();
    e.set_jobs(
        jobs.iter()
            .map(|(n, t)| parse_job(n, t).expect("a test job file parses"))
            .collect(),
        &mut h,
    );
    (e, h)
}
