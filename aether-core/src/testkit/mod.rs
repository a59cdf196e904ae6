//! The store conformance suite: the behaviour every [`EventStore`](crate::EventStore) and
//! [`SnapshotStore`](crate::SnapshotStore) must have, as tests a store author runs with
//! one macro.
//!
//! Enable the `testkit` feature in your dev-dependencies, then, in a test file:
//!
//! ```no_run
//! # #![allow(dead_code, unused_imports)] // the tests are only built by `cargo test`
//! # mod my_store { pub use aether_core::InMemoryStore as MyStore; }
//! // tests/conformance.rs of a crate that implements `MyStore`
//! aether_core::snapshot_store_conformance!(my_store::MyStore::new());
//! # fn main() {}
//! ```
//!
//! The macro writes one `#[tokio::test]` per behaviour, named after it
//! (`save_event_rejects_equal_version`, `racing_writers_win_each_version_once`, ...), so a
//! failure names what broke. The argument is an expression evaluated afresh in each test,
//! inside an async function, so it may `.await` (to connect, or to make a fresh table or
//! schema per test so that tests never see each other's data):
//!
//! ```no_run
//! # #![allow(dead_code, unused_imports)] // the tests are only built by `cargo test`
//! # mod my_store {
//! #     pub struct MyStore;
//! #     impl MyStore {
//! #         pub async fn connect(_url: &str) -> Result<aether_core::InMemoryStore, std::io::Error> {
//! #             Ok(aether_core::InMemoryStore::new())
//! #         }
//! #     }
//! # }
//! # fn fresh_url() -> String { String::new() }
//! aether_core::snapshot_store_conformance!(my_store::MyStore::connect(&fresh_url()).await.unwrap());
//! # fn main() {}
//! ```
//!
//! A store with a read side ([`EventFeed`](crate::EventFeed) and
//! [`CheckpointStore`](crate::CheckpointStore)) also runs
//! [`feed_conformance!`](crate::feed_conformance), whose expression must make an empty
//! store each time.
//!
//! A store without snapshots runs [`event_store_conformance!`](crate::event_store_conformance)
//! instead. The crate using the macros needs `tokio` (features `macros`, `rt-multi-thread`)
//! as a dev-dependency.
//!
//! The cases themselves are public async functions in [`cases`] (listed there), each
//! taking the store in an `Arc`, for authors who want to call them from their own harness.
//!
//! # Time limits
//!
//! A store that hangs fails the case instead of the test run: every test runs its case on
//! a multi-threaded runtime (racing cases need real parallelism) through [`run_case`],
//! which fails it after [`CASE_TIMEOUT`], and calls the store through a
//! [`DeadlineStore`], which fails it when one call does not return within
//! [`OPERATION_TIMEOUT`], naming the case, the operation, the actor and the version.
//!
//! [`FaultyStore`] wraps any store and fails, delays, times out or loses the
//! acknowledgement of a seeded share of its calls, to test what runs above a store.

pub mod cases;
mod deadline;
mod faults;
mod vectors;

pub use deadline::{run_case, DeadlineStore, CASE_TIMEOUT, OPERATION_TIMEOUT};
pub use faults::{
    FaultKind, FaultStats, FaultyStore, FaultyStoreBuilder, InjectedFault, OpFaults, StoreOp,
};
pub use vectors::{seed_vectors, SeedVectors, SEED_JSON};

/// Writes the event-store conformance tests (everything but snapshots) for the store
/// made by the given expression. See the [module docs](crate::testkit).
#[macro_export]
macro_rules! event_store_conformance {
    ($make:expr) => {
        $crate::__conformance_cases!($make;
            unknown_actor_has_version_zero,
            unknown_actor_has_no_events,
            save_event_then_read_back,
            save_event_rejects_equal_version,
            save_event_rejects_lower_version,
            save_event_rejects_zero_and_negative_versions,
            gaps_are_allowed,
            save_events_is_atomic,
            save_events_conflict_stores_nothing,
            save_events_rejects_mixed_actors,
            save_events_rejects_non_increasing_versions,
            save_events_empty_batch_does_nothing,
            get_events_from_is_inclusive_and_ascending,
            stored_events_are_immutable,
            empty_actor_id_is_rejected,
            seed_vectors_round_trip_through_store,
            payload_nested_deeper_than_the_limit_is_refused,
            long_history_read_from_the_middle,
            replay_lends_what_get_events_returns,
            fifty_actors_written_concurrently,
            special_actor_ids_are_kept_apart_and_intact,
            racing_writers_win_each_version_once,
            racing_distinct_versions_on_one_actor,
            racing_same_version_has_one_winner
        );
    };
}

/// Writes the whole conformance suite, event and snapshot cases, for the store made by
/// the given expression. See the [module docs](crate::testkit).
#[macro_export]
macro_rules! snapshot_store_conformance {
    ($make:expr) => {
        $crate::event_store_conformance!($make);
        $crate::__conformance_cases!($make;
            unknown_actor_has_no_snapshot,
            snapshot_round_trips,
            latest_snapshot_is_highest_version,
            snapshots_are_per_actor,
            snapshot_with_empty_actor_id_is_rejected
        );
    };
}

/// Writes the conformance tests of the read side, [`EventFeed`](crate::EventFeed) and
/// [`CheckpointStore`](crate::CheckpointStore), for the store made by the given
/// expression. Each case reads the whole feed, so the expression must make a store that
/// is **empty** (a fresh file, schema or namespace per call). See the
/// [module docs](crate::testkit).
#[macro_export]
macro_rules! feed_conformance {
    ($make:expr) => {
        $crate::__conformance_cases!($make;
            feed_of_an_empty_store_is_empty,
            feed_lists_every_event_once_in_save_order,
            feed_resumes_after_any_position,
            feed_filters_by_actor_type_and_event_type,
            feed_visit_lends_what_read_feed_returns,
            feed_wait_wakes_up_on_new_events,
            feed_tailing_readers_see_every_event_once_while_writers_race,
            checkpoints_round_trip_per_projection
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($make:expr; $($case:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            $crate::testkit::run_case(::std::stringify!($case), async {
                let store = $crate::testkit::DeadlineStore::new(::std::stringify!($case), $make);
                $crate::testkit::cases::$case(::std::sync::Arc::new(store)).await;
            })
            .await;
        }
    )*};
}
