//! outset-sys.
