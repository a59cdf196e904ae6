//! [`RuntimeBuilder`]: a runtime's store and settings, defaults for every actor type and
//! overrides for some.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{EventStore, SnapshotStore};
use tokio::sync::mpsc;

use crate::bus::EventBus;
use crate::config::ActorConfig;
use crate::context::Context;
use crate::registry::{sweep_idle, sweep_tick, Registries};
use crate::runtime::{Inner, Overrides};
use crate::{EventSourced, Runtime};

/// Builds a [`Runtime`]: defaults for every actor type, overrides for some.
///
/// The setters named after an [`ActorConfig`] field set that field's default for every
/// actor type (see [`ActorConfig`] for each default); [`configure`](Self::configure)
/// overrides them for one type.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use aether_core::InMemoryStore;
/// use aether_runtime::Runtime;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let runtime = Runtime::builder(Arc::new(InMemoryStore::new()))
///     .mailbox_capacity(128)
///     .snapshot_every(1_000)
///     .passivate_after(Some(Duration::from_secs(60)))
///     .conflict_retries(5)
///     .ask_timeout(Some(Duration::from_secs(5)))
///     .build();
/// # runtime.shutdown().await;
/// # });
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct RuntimeBuilder {
    events: Arc<dyn EventStore>,
    snapshots: Option<Arc<dyn SnapshotStore>>,
    defaults: ActorConfig,
    overrides: Overrides,
    bus_capacity: usize,
}

impl fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("snapshots", &self.snapshots.is_some())
            .field("defaults", &self.defaults)
            .field("overrides", &self.overrides.len())
            .field("bus_capacity", &self.bus_capacity)
            .finish()
    }
}

/// Builder setters that set the default of the [`ActorConfig`] setter of the same name.
macro_rules! default_setters {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $($arg: $ty),*) -> Self {
                self.defaults = self.defaults.$name($($arg),*);
                self
            }
        )*
    };
}

impl RuntimeBuilder {
    default_setters! {
        /// Sets the default [`ActorConfig::mailbox_capacity`].
        mailbox_capacity(capacity: usize);
        /// Sets the default [`ActorConfig::snapshot_every`] (0: never). An actor type's
        /// [`EventSourced::SNAPSHOT_EVERY`] takes precedence, and
        /// [`configure`](Self::configure) over both.
        snapshot_every(events: u64);
        /// Sets the default [`ActorConfig::passivate_after`].
        passivate_after(idle: Option<Duration>);
        /// Sets the default [`ActorConfig::conflict_retries`].
        conflict_retries(retries: u32);
        /// Sets the default [`ActorConfig::ask_timeout`].
        ask_timeout(timeout: Option<Duration>);
        /// Sets the default [`ActorConfig::idempotency_window`].
        idempotency_window(versions: u64);
        /// Sets the default [`ActorConfig::kept_replies`].
        kept_replies(replies: usize);
        /// Sets the default panic limit ([`ActorConfig::max_panics`] within
        /// [`ActorConfig::panic_window`]).
        max_panics(panics: u32, window: Duration);
        /// Sets the default [`ActorConfig::max_batch`] (1: one append per command).
        max_batch(commands: usize);
    }

    /// How many events the [event bus](Runtime::subscribe) keeps for slow subscribers
    /// before they lag (default 4,096).
    pub fn bus_capacity(mut self, capacity: usize) -> Self {
        self.bus_capacity = capacity.max(1);
        self
    }

    /// Overrides settings for actor type `A`, starting from the defaults.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use aether_runtime::{Runtime, EventSourced, Decision};
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Account;
    /// # struct Opened;
    /// # impl aether_runtime::DomainEvent for Opened {
    /// #     fn event_type(&self) -> &str { "Opened" }
    /// #     fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> { Ok(serde_json::json!({})) }
    /// #     fn from_data(_: &str, _: &serde_json::Value) -> Result<Self, aether_runtime::EventDecodeError> { Ok(Opened) }
    /// # }
    /// # #[derive(Debug, thiserror::Error)] #[error("never")] struct Never;
    /// # impl EventSourced for Account {
    /// #     const ACTOR_TYPE: &'static str = "Account";
    /// #     type Command = (); type Event = Opened; type Reply = (); type Error = Never;
    /// #     fn decide(&self, _: &()) -> Result<Decision<Opened>, Never> { Ok(Decision::emit(Opened)) }
    /// #     fn apply(&mut self, _: &Opened) {}
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let runtime = Runtime::builder(Arc::new(aether_core::InMemoryStore::new()))
    ///     .configure::<Account>(|c| c.snapshot_every(100).mailbox_capacity(1_024))
    ///     .build();
    /// assert_eq!(runtime.config_of::<Account>().mailbox_capacity, 1_024);
    /// # runtime.shutdown().await;
    /// # });
    /// ```
    pub fn configure<A: EventSourced>(
        mut self,
        f: impl Fn(ActorConfig) -> ActorConfig + Send + Sync + 'static,
    ) -> Self {
        self.overrides.insert(TypeId::of::<A>(), Box::new(f));
        self
    }

    /// Builds the runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (actors are tokio tasks; the idle sweep starts here).
    pub fn build(self) -> Runtime {
        let (live_tx, live_rx) = mpsc::channel(1);
        let shortest_idle = std::iter::once(self.defaults.clone())
            .chain(self.overrides.values().map(|f| f(self.defaults.clone())))
            .filter_map(|config| config.passivate_after)
            .min();
        let tick = sweep_tick(shortest_idle);
        let context = Arc::new(Context::new(
            self.events,
            self.snapshots,
            EventBus::new(self.bus_capacity),
            live_tx,
        ));
        let registries = Arc::new(Registries::default());
        if let Some(tick) = tick {
            tokio::spawn(sweep_idle(
                Arc::downgrade(&context),
                Arc::downgrade(&registries),
                tick,
            ));
        }
        Runtime {
            inner: Arc::new(Inner {
                context,
                registries,
                defaults: self.defaults,
                overrides: self.overrides,
                live_rx: tokio::sync::Mutex::new(live_rx),
                tick,
            }),
        }
    }
}

impl Runtime {
    /// A builder over a store that keeps snapshots.
    pub fn builder(store: Arc<dyn SnapshotStore>) -> RuntimeBuilder {
        let events: Arc<dyn EventStore> = store.clone();
        RuntimeBuilder::new(events, Some(store))
    }

    /// A builder over a store without snapshots: actors always replay their whole
    /// history on start, and the snapshot settings are ignored.
    pub fn builder_without_snapshots(store: Arc<dyn EventStore>) -> RuntimeBuilder {
        RuntimeBuilder::new(store, None)
    }

    /// A runtime with default settings over a store that keeps snapshots.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as [`RuntimeBuilder::build`].
    pub fn new(store: Arc<dyn SnapshotStore>) -> Runtime {
        Runtime::builder(store).build()
    }
}

impl RuntimeBuilder {
    fn new(events: Arc<dyn EventStore>, snapshots: Option<Arc<dyn SnapshotStore>>) -> Self {
        RuntimeBuilder {
            events,
            snapshots,
            defaults: ActorConfig::default(),
            overrides: HashMap::new(),
            bus_capacity: 4_096,
        }
    }
}
