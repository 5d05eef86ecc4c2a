//! outset's event and job engine: inputs in, effects out.
//!
//! Pure and deterministic: the host feeds events, commands, process exits and the clock,
//! carries out what the engine asks through [`Effects`], and answers what it reads through
//! [`Probe`]. Tested without processes ([`testing::FakeHost`]).

pub mod condition;
pub mod engine;
pub mod history;
pub mod idmap;
pub mod runlevel;
pub mod slots;
pub mod testing;
pub mod types;
pub mod uevent;

pub use engine::snapshot::Snapshot;
pub use engine::{
    DEFAULT_PATH, Engine, LAUNCH_TIMEOUT_S, Notice, NoticeRef, Options, READY_TIMEOUT_S,
    RESPAWN_RESET_S, SETTLE_MS, next_state,
};
pub use types::*;
