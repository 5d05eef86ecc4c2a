//! What outset's tests and benchmarks share across crates, so each exists once: where the
//! job corpus and the fuzz seeds are and how they are read, how a cgroup subtree a test made
//! is torn down, whether the process is root, and strict readers of DOT and XML for the
//! graphs and pictures outset writes. Test support only: nothing here is
//! published or linked into outset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cgroup;
pub mod corpus;
pub mod dot;
pub mod privilege;
pub mod xml;
