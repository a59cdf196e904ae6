//! Procedural macros for aether. Use them through the `aether` crate, not directly.
//!
//! This crate is a placeholder until the macros issue lands: it exports nothing yet.
