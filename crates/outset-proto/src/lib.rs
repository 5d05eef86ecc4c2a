//! outset-proto.
