//! outset-trace: the start-up tracer behind `outsetctl trace`, and the ptrace stop rules
//! it shares with the daemon's `track ptrace`.
//!
//! [`trace`] runs a command under ptrace, follows every process it creates and records
//! forks, execs and exits in order, so a user can see how a daemon starts (how many
//! launch-chain processes exit before the daemon is left) and pick the right `expect`
//! stanza. When it ends, what the command left gets SIGTERM, [`TERM_GRACE`] to end, then
//! SIGKILL; the command's stderr goes to a file whose end the report carries.
//!
//! Besides the process tree it offers the command a `NOTIFY_SOCKET` (recording READY=1 and
//! MAINPID=) and looks every [`SCAN_INTERVAL`] at which listening sockets the traced
//! processes hold, so the readiness of a daemon can be told, not only its fork pattern.
//!
//! The daemon tracks jobs by cgroup and exit; it traces only a job that asks for it
//! (`track ptrace`), and only until its main PID is known: it answers stops with the rules
//! of [`stops`].
//!
//! Every syscall goes through `outset-sys` (its thin `ptrace` wrappers, spawning, cgroups,
//! pidfds, `/proc`); this crate has no `unsafe`.

pub mod report;
mod stderr_file;
pub mod stops;
mod tracer;

pub use report::*;
pub use tracer::trace;
