//! The conformance cases, one public async function per behaviour.
//!
//! Each function panics (with a message naming the broken rule) when the store under test
//! does not behave. They are normally run through
//! [`snapshot_store_conformance!`](crate::snapshot_store_conformance) or
//! [`event_store_conformance!`](crate::event_store_conformance), which run every case
//! within time limits (see [the testkit docs](super#time-limits)).
//!
//! # The cases
//!
//! Reads of an unknown actor:
//! [`unknown_actor_has_version_zero`], [`unknown_actor_has_no_events`],
//! [`unknown_actor_has_no_snapshot`].
//!
//! The version check:
//! [`save_event_then_read_back`], [`save_event_rejects_equal_version`],
//! [`save_event_rejects_lower_version`], [`save_event_rejects_zero_and_negative_versions`],
//! [`gaps_are_allowed`], [`stored_events_are_immutable`].
//!
//! Batches:
//! [`save_events_is_atomic`], [`save_events_conflict_stores_nothing`],
//! [`save_events_rejects_mixed_actors`], [`save_events_rejects_non_increasing_versions`],
//! [`save_events_empty_batch_does_nothing`].
//!
//! Reads and data:
//! [`get_events_from_is_inclusive_and_ascending`], [`long_history_read_from_the_middle`],
//! [`seed_vectors_round_trip_through_store`], [`replay_lends_what_get_events_returns`],
//! [`special_actor_ids_are_kept_apart_and_intact`], [`empty_actor_id_is_rejected`],
//! [`payload_nested_deeper_than_the_limit_is_refused`] (data deeper than
//! [`MAX_PAYLOAD_DEPTH`](crate::MAX_PAYLOAD_DEPTH) is refused at save and leaves the
//! history unchanged; data at the limit round-trips).
//!
//! Concurrency (every racing call must return, with success or a version conflict):
//! - [`fifty_actors_written_concurrently`]: many actors at once keep their own histories;
//! - [`racing_writers_win_each_version_once`]: writers racing at `latest + 1` win each
//!   version once, gaplessly;
//! - [`racing_distinct_versions_on_one_actor`]: 8 calls at once append 8 different
//!   versions of one actor; the accepted ones are stored once each, ascending;
//! - [`racing_same_version_has_one_winner`]: 8 calls at once save the same version;
//!   one wins, the others conflict with the stored version as current.
//!
//! The feed and checkpoints ([`feed_conformance!`](crate::feed_conformance); each case
//! needs an empty store of its own):
//! [`feed_of_an_empty_store_is_empty`], [`feed_lists_every_event_once_in_save_order`],
//! [`feed_resumes_after_any_position`], [`feed_filters_by_actor_type_and_event_type`],
//! [`feed_visit_lends_what_read_feed_returns`] (the lending read,
//! [`EventFeed::visit_feed`](crate::EventFeed::visit_feed), and the
//! [`Decoded`](crate::Decoded) items read through it, give what `read_feed` gives),
//! [`feed_wait_wakes_up_on_new_events`],
//! [`feed_tailing_readers_see_every_event_once_while_writers_race`] (8 writers, two
//! tailing readers: every event seen once, none skipped, in the stored order),
//! [`checkpoints_round_trip_per_projection`].
//!
//! Snapshots:
//! [`snapshot_round_trips`], [`latest_snapshot_is_highest_version`],
//! [`snapshots_are_per_actor`], [`snapshot_with_empty_actor_id_is_rejected`].

mod concurrency;
mod data;
mod feed;
mod snapshots;
mod support;
mod versions;

pub use concurrency::*;
pub use data::*;
pub use feed::*;
pub use snapshots::*;
pub use support::event;
pub use versions::*;
