//! outset's job files: the Upstart 1.13 grammar and outset's own stanzas.
//!
//! Pure: text in, a [`JobConfig`] or diagnostics out. No syscalls.

pub mod expr;
pub mod model;

pub use expr::{Arg, EventMatch, Expr, ListenAddr, ReadySource};
pub use model::*;
