//! The nats store for aether (in progress).
