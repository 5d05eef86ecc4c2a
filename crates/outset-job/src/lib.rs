//! outset's job files: the Upstart 1.13 grammar and outset's own stanzas.
//!
//! Pure: text in, a [`JobConfig`] or a positioned [`ParseError`] out; [`confdir`] reads
//! files, nothing here makes any other system call.

pub mod confdir;
pub mod error;
pub mod expand;
pub mod expr;
mod expr_parse;
pub mod fnmatch;
pub mod lexer;
pub mod logname;
pub mod model;
pub mod parse;
pub mod render;
pub mod resources;
pub mod signal;
pub mod stanzas;

pub use error::{Diagnostic, ParseError};
pub use expr::{Arg, EventMatch, Expr, ListenAddr, ReadySource, is_device_event};
pub use expr_parse::{MAX_EXPR_DEPTH, parse_listen};
pub use logname::log_file_name;
pub use model::*;
pub use parse::{parse_into, parse_job};
pub use render::render;
