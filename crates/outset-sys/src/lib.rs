//! outset-sys: the Linux layer of outset.
//!
//! This is the only crate of the project that makes raw system calls, so the
//! rest of the code base can stay `unsafe`-free. Everything here runs inside
//! a daemon that may be PID 1: functions return errors instead of panicking.
#![allow(unsafe_code)]

pub mod activation;
pub mod cgroup;
pub mod dbus;
pub mod fdpass;
pub mod handover;
pub mod inotify;
pub mod logfile;
pub mod mounts;
pub mod net;
pub mod notify;
pub mod pidfd;
pub mod poll;
pub mod power;
pub mod process;
pub mod procfs;
pub mod ptrace;
pub mod pty;
pub mod reap;
pub mod signals;
pub mod spawn;
pub mod uevent;
pub mod unix_socket;
pub mod utmp;

#[cfg(test)]
mod testutil;
