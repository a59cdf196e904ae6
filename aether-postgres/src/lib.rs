//! The postgres store for aether (in progress).
