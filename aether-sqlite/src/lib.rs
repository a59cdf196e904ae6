//! The sqlite store for aether (in progress).
