//! The `outset` package: the `outset` daemon and `outsetctl` binaries and their
//! integration tests.
