//! Metrics through the `metrics` facade (feature `metrics`); no-ops without it (empty
//! inline functions and a zero-sized timer: no clock read, no cost).
//!
//! Names: `aether_commands_total{actor_type, outcome}`, `aether_events_persisted_total`,
//! `aether_conflicts_total`, `aether_rehydrations_total`, `aether_passivations_total`
//! (all with `actor_type`), the histogram `aether_ask_seconds{actor_type}`, the gauge
//! `aether_live_actors{actor_type}`, the histogram `aether_mailbox_depth{actor_type}`
//! (sampled as each command is taken), the histogram
//! `aether_store_seconds{actor_type, operation}` (`append`, `read_events`,
//! `read_snapshot`, `save_snapshot`), and for projections
//! `aether_projection_events_total{projection}` and the gauge
//! `aether_projection_lag{projection}`. The list with units is in `docs/metrics.md`.

#[cfg(feature = "metrics")]
mod enabled {
    use std::time::Duration;

    pub(crate) fn command(actor_type: &'static str, outcome: &'static str) {
        metrics::counter!("aether_commands_total", "actor_type" => actor_type, "outcome" => outcome)
            .increment(1);
    }
    pub(crate) fn events_persisted(actor_type: &'static str, n: usize) {
        metrics::counter!("aether_events_persisted_total", "actor_type" => actor_type)
            .increment(n as u64);
    }
    pub(crate) fn conflict(actor_type: &'static str) {
        metrics::counter!("aether_conflicts_total", "actor_type" => actor_type).increment(1);
    }
    pub(crate) fn rehydration(actor_type: &'static str) {
        metrics::counter!("aether_rehydrations_total", "actor_type" => actor_type).increment(1);
    }
    pub(crate) fn passivation(actor_type: &'static str) {
        metrics::counter!("aether_passivations_total", "actor_type" => actor_type).increment(1);
    }
    pub(crate) fn projection_events(projection: &str, n: u64) {
        metrics::counter!("aether_projection_events_total", "projection" => projection.to_owned())
            .increment(n);
    }
    pub(crate) fn projection_lag(projection: &str, lag: u64) {
        metrics::gauge!("aether_projection_lag", "projection" => projection.to_owned())
            .set(lag as f64);
    }
    pub(crate) fn ask_latency(actor_type: &'static str, elapsed: Duration) {
        metrics::histogram!("aether_ask_seconds", "actor_type" => actor_type)
            .record(elapsed.as_secs_f64());
    }
    pub(crate) fn live_actors(actor_type: &'static str, delta: f64) {
        metrics::gauge!("aether_live_actors", "actor_type" => actor_type).increment(delta);
    }
    pub(crate) fn mailbox_depth(actor_type: &'static str, depth: usize) {
        metrics::histogram!("aether_mailbox_depth", "actor_type" => actor_type)
            .record(depth as f64);
    }

    /// When a store call started.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Timer(std::time::Instant);

    pub(crate) fn timer() -> Timer {
        Timer(std::time::Instant::now())
    }
    pub(crate) fn store_latency(actor_type: &'static str, operation: &'static str, since: Timer) {
        metrics::histogram!("aether_store_seconds", "actor_type" => actor_type, "operation" => operation)
            .record(since.0.elapsed().as_secs_f64());
    }
}

#[cfg(feature = "metrics")]
pub(crate) use enabled::*;

#[cfg(not(feature = "metrics"))]
mod disabled {
    #[inline(always)]
    pub(crate) fn command(_: &'static str, _: &'static str) {}
    #[inline(always)]
    pub(crate) fn events_persisted(_: &'static str, _: usize) {}
    #[inline(always)]
    pub(crate) fn conflict(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn rehydration(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn passivation(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn projection_events(_: &str, _: u64) {}
    #[inline(always)]
    pub(crate) fn projection_lag(_: &str, _: u64) {}
    #[inline(always)]
    pub(crate) fn live_actors(_: &'static str, _: f64) {}

    /// Zero-sized without the feature: no clock is read.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Timer;

    #[inline(always)]
    pub(crate) fn timer() -> Timer {
        Timer
    }
    #[inline(always)]
    pub(crate) fn store_latency(_: &'static str, _: &'static str, _: Timer) {}
}

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::*;
