//! outset-engine.
