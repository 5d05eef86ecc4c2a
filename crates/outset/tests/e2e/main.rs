//! outset's end-to-end tests, one integration binary: the real `outset` daemon in a temp dir
//! with its own socket and cgroup subtree, driven by the real `outsetctl`. Each module holds
//! one area; `common` holds the harness they share. A new area is a new module here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod cases;
mod client;
mod confdir;
mod control;
mod dbus;
mod devices;
mod docs;
mod event_sources;
mod graph;
mod hostile_control;
mod hostile_jobs;
mod hostile_linux;
mod init;
mod job_logs;
mod launch_chain;
mod lifecycle;
mod linux_layer;
mod observe;
mod pid1;
mod pid_reuse;
mod process_setup;
mod ptrace_track;
mod readiness;
mod real_daemons;
mod reexec;
mod resources;
mod spawn_failure;
mod stop_always_ends;
mod surface;
mod trace;
mod trace_real;
mod tracking;
