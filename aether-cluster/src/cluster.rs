//! [`Cluster`]: this process's membership, and [`ClusterBuilder`] to join.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_nats::NatsStore;
use aether_runtime::{Runtime, RuntimeBuilder};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::actor_type::{ActorTypes, ClusterActor};
use crate::bus::{Forwarder, Hub, Interest};
use crate::config::ClusterConfig;
use crate::error::JoinError;
use crate::host::{Host, MakeRuntime};
use crate::member::{self, View};
use crate::router::ClusterRef;
use crate::serve::serve;
use crate::wire::member_subject;

/// A member of a cluster: the handle a process holds after joining. Cheap to clone.
///
/// Get actor handles with [`actor`](Self::actor); end the membership with
/// [`leave`](Self::leave), which hands every shard over first (no command is lost or
/// refused on the way).
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) node: Arc<str>,
    pub(crate) namespace: String,
    pub(crate) client: async_nats::Client,
    pub(crate) config: ClusterConfig,
    pub(crate) host: Arc<Host>,
    pub(crate) view: watch::Receiver<View>,
    pub(crate) hub: Arc<Hub>,
    store: Arc<NatsStore>,
    left: AtomicBool,
    leave_tx: mpsc::Sender<oneshot::Sender<()>>,
    /// Tells the request loop to unsubscribe and answer what it already received; it
    /// answers on the channel it is given when it has.
    stop_serving: Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Inner {
    pub(crate) fn is_left(&self) -> bool {
        self.left.load(Ordering::Acquire)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without `leave`, the member stops heartbeating and is declared dead.
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.inner.node)
            .field("namespace", &self.inner.namespace)
            .field("members", &self.members())
            .finish()
    }
}

/// Joins a cluster: the store (its NATS connection and namespace), the node id, the
/// actor types this member serves, the runtime settings.
#[must_use = "a builder does nothing until `join` is called"]
pub struct ClusterBuilder {
    store: Arc<NatsStore>,
    node: String,
    config: ClusterConfig,
    types: ActorTypes,
    runtime: Option<Arc<dyn Fn(Arc<NatsStore>) -> RuntimeBuilder + Send + Sync>>,
}

impl fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterBuilder")
            .field("node", &self.node)
            .field("namespace", &self.store.namespace())
            .field("config", &self.config)
            .field("actor_types", &self.types.names())
            .finish()
    }
}

impl Cluster {
    /// A builder for member `node` of the cluster on `store`'s namespace.
    pub fn builder(store: NatsStore, node: impl Into<String>) -> ClusterBuilder {
        ClusterBuilder {
            store: Arc::new(store),
            node: node.into(),
            config: ClusterConfig::default(),
            types: ActorTypes::default(),
            runtime: None,
        }
    }

    /// Connects a [`NatsStore`] to `url` on `namespace` and returns a builder for member
    /// `node` on it.
    ///
    /// # Errors
    ///
    /// [`JoinError::Connect`] when NATS cannot be reached (it names the URL and what to
    /// check).
    pub async fn connect(
        url: &str,
        namespace: &str,
        node: impl Into<String>,
    ) -> Result<ClusterBuilder, JoinError> {
        let node = node.into();
        let store = NatsStore::builder(url)
            .namespace(namespace)
            .connect()
            .await
            .map_err(|source| JoinError::Connect {
                node: node.clone(),
                source,
            })?;
        Ok(Cluster::builder(store, node))
    }

    /// The handle of actor `id` of type `A`, wherever it lives.
    pub fn actor<A: ClusterActor>(&self, id: impl AsRef<str>) -> ClusterRef<A> {
        ClusterRef::new(self.clone(), id.as_ref())
    }

    /// This member's node id.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The cluster's namespace (the store's).
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The store the members share.
    pub fn store(&self) -> &Arc<NatsStore> {
        &self.inner.store
    }

    /// The members that own shards in this member's view now, sorted.
    pub fn members(&self) -> Vec<String> {
        self.inner.view.borrow().placed.to_vec()
    }

    /// Shards this member serves now (those it has had commands for).
    pub fn served_shards(&self) -> usize {
        self.inner.host.served_shards()
    }

    /// Waits until this member's view has exactly `members` placed members (sorted
    /// comparison), at most `timeout`; returns whether it did.
    pub async fn wait_for_members(&self, members: &[&str], timeout: Duration) -> bool {
        let mut wanted: Vec<String> = members.iter().map(|m| (*m).to_owned()).collect();
        wanted.sort();
        let mut view = self.inner.view.clone();
        let deadline = Instant::now() + timeout;
        loop {
            if *view.borrow_and_update().placed == wanted[..] {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if tokio::time::timeout(left, view.changed()).await.is_err() {
                return false;
            }
        }
    }

    /// Leaves the cluster gracefully: stops taking commands (callers on any member are
    /// sent on to the new owners), executes and answers every command already queued
    /// here, stops the actors, then deletes this member's heartbeat, after which the
    /// others take its shards. Later asks through this member fail with
    /// [`ClusterAskError::Left`](crate::ClusterAskError::Left). Idempotent.
    pub async fn leave(&self) {
        if self.inner.left.swap(true, Ordering::AcqRel) {
            return;
        }
        let runtimes = self.inner.host.close();
        self.inner.host.drain(runtimes).await;
        let (done_tx, done_rx) = oneshot::channel();
        if self.inner.leave_tx.send(done_tx).await.is_ok() {
            let _ = done_rx.await;
        }
        // Requests sent before the others saw the key go are answered "moved" (not left
        // unanswered in the subscription); later ones find no responder and go elsewhere.
        // The others see the deletion within milliseconds: one heartbeat interval of
        // answering "moved" covers it.
        tokio::time::sleep(self.inner.config.heartbeat_interval).await;
        let stop = self
            .inner
            .stop_serving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(stop) = stop {
            let (served_tx, served_rx) = oneshot::channel();
            if stop.send(served_tx).is_ok() {
                let _ = tokio::time::timeout(self.inner.config.drain_timeout, served_rx).await;
            }
        }
        let tasks: Vec<JoinHandle<()>> = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for task in tasks {
            task.abort();
        }
        self.inner.hub.close().await;
    }
}

impl ClusterBuilder {
    /// Sets the timings and the shard count (see [`ClusterConfig`] for the defaults).
    pub fn config(mut self, config: ClusterConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves actor type `A` on this member. Every member must register every actor type
    /// asked through the cluster (an owner that has not answers
    /// [`ClusterAskError::UnknownActorType`](crate::ClusterAskError::UnknownActorType)).
    pub fn register<A: ClusterActor>(mut self) -> Self {
        self.types.register::<A>();
        self
    }

    /// How each shard's runtime is built (default: `Runtime::builder(store)` with the
    /// runtime's defaults). Called once per shard this member starts serving; use it for
    /// actor settings (`passivate_after`, `configure::<A>(..)`, ...).
    pub fn runtime(
        mut self,
        builder: impl Fn(Arc<NatsStore>) -> RuntimeBuilder + Send + Sync + 'static,
    ) -> Self {
        self.runtime = Some(Arc::new(builder));
        self
    }

    /// Joins: checks the node id and the shard count, claims the node id, starts
    /// heartbeating and serving, and returns once the member is placed (or after the
    /// failover timeout, when the other members have not acknowledged it yet; it is
    /// placed as soon as they have).
    ///
    /// # Errors
    ///
    /// [`JoinError::InvalidNodeId`], [`JoinError::ShardCountMismatch`],
    /// [`JoinError::NodeIdInUse`], [`JoinError::Nats`] when NATS fails.
    pub async fn join(self) -> Result<Cluster, JoinError> {
        validate_node(&self.node)?;
        let client = self.store.client().clone();
        let namespace = self.store.namespace().to_owned();
        let node: Arc<str> = self.node.as_str().into();
        let joined = member::join(&client, &namespace, &self.node, &self.config).await?;
        let store = Arc::clone(&self.store);
        let make_runtime: MakeRuntime = match self.runtime {
            Some(builder) => Arc::new(move || builder(Arc::clone(&store)).build()),
            None => Arc::new(move || Runtime::new(store.clone())),
        };
        let hub = Arc::new(Hub::new(
            client.clone(),
            &namespace,
            Arc::clone(&node),
            self.types.names(),
            self.config.bus_capacity,
        ));
        let forward = Forwarder::new(client.clone(), &namespace, self.config.drain_timeout);
        let host = Arc::new(Host::new(
            Arc::clone(&node),
            self.config.shard_count,
            self.types,
            make_runtime,
            self.config.drain_timeout,
            forward,
        ));
        let subject = member_subject(&namespace, &node);
        let requests = client
            .subscribe(subject)
            .await
            .map_err(|err| JoinError::Nats {
                node: self.node.clone(),
                doing: "subscribing to the member's subject",
                reason: err.to_string(),
            })?;
        // Before the membership loop (before this member serves): asks whether anyone
        // subscribes to events.
        let interest = Interest {
            client: client.clone(),
            namespace: namespace.clone(),
            node: Arc::clone(&node),
            host: Arc::clone(&host),
            hub: Arc::clone(&hub),
            lease: self.config.forward_lease(),
            tick: self.config.heartbeat_interval,
        }
        .start()
        .await
        .map_err(|err| JoinError::Nats {
            node: self.node.clone(),
            doing: "subscribing to the event bus's interest subject",
            reason: err.to_string(),
        })?;
        let (view_tx, view_rx) = watch::channel(View::default());
        let (leave_tx, leave_rx) = mpsc::channel(1);
        let membership = member::Loop {
            members: joined.members,
            record: joined.record,
            config: self.config.clone(),
            host: Arc::clone(&host),
            view: view_tx,
            leave: leave_rx,
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let tasks = vec![
            tokio::spawn(membership.run()),
            tokio::spawn(serve(requests, client.clone(), Arc::clone(&host), stop_rx)),
            interest,
        ];
        let cluster = Cluster {
            inner: Arc::new(Inner {
                node,
                namespace,
                client,
                config: self.config,
                host,
                view: view_rx,
                hub,
                store: self.store,
                left: AtomicBool::new(false),
                leave_tx,
                stop_serving: Mutex::new(Some(stop_tx)),
                tasks: Mutex::new(tasks),
            }),
        };
        cluster.wait_until_placed().await;
        Ok(cluster)
    }
}

impl Cluster {
    async fn wait_until_placed(&self) {
        let mut view = self.inner.view.clone();
        let wait = async {
            while !view
                .borrow_and_update()
                .placed
                .iter()
                .any(|m| **m == *self.inner.node)
            {
                if view.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(self.inner.config.failover_timeout, wait).await;
    }
}

fn validate_node(node: &str) -> Result<(), JoinError> {
    let invalid = |reason| {
        Err(JoinError::InvalidNodeId {
            node: node.to_owned(),
            reason,
        })
    };
    if node.is_empty() {
        return invalid("it is empty");
    }
    if node.len() > 64 {
        return invalid("it is longer than 64 bytes");
    }
    if !node
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return invalid("it has characters other than letters, digits, `-` and `_`");
    }
    Ok(())
}
