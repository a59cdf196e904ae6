//! Membership on NATS: the buckets, claiming a node id, and the loop that heartbeats,
//! watches the other members, acknowledges joiners after handing their shards over, and
//! publishes the placement to the router and the host.
//!
//! Two key-value buckets per namespace `ns`:
//!
//! - `aether_<ns>_cluster` (history 1, no expiry): the key `config`, the cluster's shard
//!   count, created by the first member (`create`, so two first members agree);
//! - `aether_<ns>_members` (history 1, `max_age` of a few failover timeouts, so a dead
//!   member's key goes away by itself): `members.<node>`, the member's [`Record`],
//!   rewritten every heartbeat interval.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::ClusterConfig;
use crate::error::JoinError;
use crate::host::Host;
use crate::membership::{Members, Record, Status};

/// What the router reads: the placed members, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) placed: Arc<[String]>,
    /// Members that left gracefully a short while ago: a request to one of them that got
    /// no answer was never taken (a leaving member answers every request it takes before
    /// it unsubscribes), so it is sent again, with its command id, to the new owner.
    pub(crate) departed: Arc<[String]>,
}

fn cluster_bucket(namespace: &str) -> String {
    format!("aether_{namespace}_cluster")
}

fn members_bucket(namespace: &str) -> String {
    format!("aether_{namespace}_members")
}

/// The key-value buckets a cluster on `namespace` keeps: `aether_<ns>_cluster` (the
/// shard count) and `aether_<ns>_members` (the heartbeats). Made by the first member;
/// delete them (with the store's namespace) to remove a cluster's every trace.
pub fn bucket_names(namespace: &str) -> [String; 2] {
    [cluster_bucket(namespace), members_bucket(namespace)]
}

/// Deletes the cluster's buckets of `store`'s namespace ([`bucket_names`]), when no member
/// runs any more; returns how many it deleted. Best effort: a bucket that is missing or
/// cannot be deleted is skipped. The store's own stream and buckets are
/// [`NatsStore::delete_namespace`](aether_nats::NatsStore::delete_namespace)'s.
pub async fn delete_buckets(store: &aether_nats::NatsStore) -> usize {
    let js = async_nats::jetstream::new(store.client().clone());
    let mut deleted = 0;
    for bucket in bucket_names(store.namespace()) {
        if js.delete_key_value(&bucket).await.is_ok() {
            deleted += 1;
        }
    }
    deleted
}

fn member_key(node: &str) -> String {
    format!("members.{node}")
}

/// The key-value bucket `name` (history 1), created if missing. Its stream is made
/// here, in the standard key-value layout (as `nats kv add` makes it), because
/// async-nats's `create_key_value` first asks for account info in a shape nats-server
/// 2.9 does not send (aether-nats does the same).
async fn bucket(
    js: &async_nats::jetstream::Context,
    name: &str,
    max_age: Duration,
    node: &str,
) -> Result<kv::Store, JoinError> {
    use async_nats::jetstream::stream;
    let nats = |reason: String| JoinError::Nats {
        node: node.to_owned(),
        doing: "opening the cluster's key-value buckets",
        reason,
    };
    let config = stream::Config {
        name: format!("KV_{name}"),
        description: Some("aether cluster: members and settings".to_owned()),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|err| nats(err.to_string()))?;
    js.get_key_value(name)
        .await
        .map_err(|err| nats(err.to_string()))
}

/// The buckets, the shard count checked, and this member's node id claimed.
pub(crate) struct Joined {
    pub(crate) members: kv::Store,
    pub(crate) record: Record,
}

/// Opens the buckets, checks the shard count, and claims `members.<node>`.
pub(crate) async fn join(
    client: &async_nats::Client,
    namespace: &str,
    node: &str,
    config: &ClusterConfig,
) -> Result<Joined, JoinError> {
    let js = async_nats::jetstream::new(client.clone());
    let cluster = bucket(&js, &cluster_bucket(namespace), Duration::ZERO, node).await?;
    check_shard_count(&cluster, namespace, node, config.shard_count).await?;
    let dead_after = config.dead_after();
    let max_age = (dead_after * 8).max(Duration::from_secs(10));
    let members = bucket(&js, &members_bucket(namespace), max_age, node).await?;
    let record = Record {
        node: node.to_owned(),
        incarnation: uuid::Uuid::now_v7().simple().to_string(),
        status: Status::Joining,
        acks: Vec::new(),
        shard_count: config.shard_count,
    };
    claim(&members, namespace, &record, config).await?;
    Ok(Joined { members, record })
}

async fn check_shard_count(
    cluster: &kv::Store,
    namespace: &str,
    node: &str,
    ours: u32,
) -> Result<(), JoinError> {
    let nats = |doing, reason: String| JoinError::Nats {
        node: node.to_owned(),
        doing,
        reason,
    };
    let value = serde_json::json!({ "shard_count": ours }).to_string();
    match cluster.create("config", value.into()).await {
        Ok(_) => return Ok(()),
        Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {}
        Err(err) => return Err(nats("writing the cluster's shard count", err.to_string())),
    }
    let entry = cluster
        .entry("config")
        .await
        .map_err(|err| nats("reading the cluster's shard count", err.to_string()))?;
    let theirs = entry
        .and_then(|e| serde_json::from_slice::<serde_json::Value>(&e.value).ok())
        .and_then(|v| v["shard_count"].as_u64())
        .map_or(ours, |n| n as u32);
    if theirs != ours {
        return Err(JoinError::ShardCountMismatch {
            node: node.to_owned(),
            namespace: namespace.to_owned(),
            ours,
            theirs,
        });
    }
    Ok(())
}

/// Writes the member's first heartbeat: `create`; if the key exists, waits up to the
/// dead-after time for a newer heartbeat of the previous holder; none came: it is dead
/// (a killed process restarting), so the key is taken over with a revision-checked
/// `update`; one came: [`JoinError::NodeIdInUse`].
async fn claim(
    members: &kv::Store,
    namespace: &str,
    record: &Record,
    config: &ClusterConfig,
) -> Result<(), JoinError> {
    let node = &record.node;
    let key = member_key(node);
    let nats = |doing, reason: String| JoinError::Nats {
        node: node.clone(),
        doing,
        reason,
    };
    let value = || serde_json::to_vec(record).expect("a record is JSON").into();
    loop {
        match members.create(&key, value()).await {
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(err) => return Err(nats("writing the first heartbeat", err.to_string())),
        }
        let read = || async {
            members
                .entry(&key)
                .await
                .map_err(|err| nats("reading the node id's key", err.to_string()))
        };
        let Some(first) = read().await? else { continue };
        let deadline = Instant::now() + config.dead_after() + config.heartbeat_interval;
        let mut revision = first.revision;
        while Instant::now() < deadline {
            tokio::time::sleep(config.heartbeat_interval / 2).await;
            match read().await? {
                None => break,
                Some(entry) if entry.revision != revision => {
                    return Err(JoinError::NodeIdInUse {
                        node: node.clone(),
                        namespace: namespace.to_owned(),
                    })
                }
                Some(entry) => revision = entry.revision,
            }
        }
        match members.update(&key, value(), revision).await {
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                return Err(JoinError::NodeIdInUse {
                    node: node.clone(),
                    namespace: namespace.to_owned(),
                })
            }
            Err(err) => return Err(nats("taking over the node id's key", err.to_string())),
        }
    }
}

/// The membership loop's handles.
pub(crate) struct Loop {
    pub(crate) members: kv::Store,
    pub(crate) record: Record,
    pub(crate) config: ClusterConfig,
    pub(crate) host: Arc<Host>,
    pub(crate) view: watch::Sender<View>,
    /// Asked to leave: delete the key, then answer.
    pub(crate) leave: mpsc::Receiver<oneshot::Sender<()>>,
}

impl Loop {
    /// Runs until asked to leave (then deletes the member's key) or until the members
    /// bucket cannot be watched any more.
    pub(crate) async fn run(mut self) {
        let key = member_key(&self.record.node);
        let dead_after = self.config.dead_after();
        let heartbeat = self.config.heartbeat_interval;
        let mut members = Members::default();
        // Joiners this member hands shards to (node@incarnation): from the start of the
        // handover; `acks` once drained (what the heartbeat says).
        let mut handing: BTreeSet<String> = BTreeSet::new();
        let mut acks: BTreeSet<String> = BTreeSet::new();
        let (acked_tx, mut acked_rx) = mpsc::unbounded_channel::<String>();
        let mut last_ok = Instant::now();
        let mut tick = tokio::time::interval(heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watch = loop {
            match self.members.watch_with_history("members.>").await {
                Ok(watch) => break watch,
                Err(err) => {
                    tracing::warn!(node = %self.record.node, error = %err, "cannot watch the members; retrying");
                    tokio::time::sleep(heartbeat).await;
                }
            }
        };
        let mut dirty = true;
        // No placement is computed before every member's current heartbeat is known (a
        // member seeing only some would place itself too early): they are read once,
        // key by key, before the watch takes over.
        let mut caught_up = false;
        loop {
            if !caught_up {
                match self.read_all().await {
                    Ok(entries) => {
                        for entry in entries {
                            observe(&mut members, entry);
                        }
                        caught_up = true;
                        dirty = true;
                    }
                    Err(err) => {
                        tracing::warn!(node = %self.record.node, error = %err, "cannot read the members; retrying");
                    }
                }
            }
            tokio::select! {
                _ = tick.tick() => dirty = true,
                entry = watch.next() => match entry {
                    Some(Ok(entry)) => {
                        observe(&mut members, entry);
                        dirty = true;
                    }
                    Some(Err(err)) => {
                        tracing::warn!(node = %self.record.node, error = %err, "watching the members failed; watching again");
                        if let Ok(again) = self.members.watch_with_history("members.>").await {
                            watch = again;
                        }
                    }
                    None => {
                        if let Ok(again) = self.members.watch_with_history("members.>").await {
                            watch = again;
                        } else {
                            tokio::time::sleep(heartbeat).await;
                        }
                    }
                },
                Some(tag) = acked_rx.recv() => {
                    acks.insert(tag);
                    dirty = true;
                    self.put(&key, &acks, &mut last_ok).await;
                }
                Some(done) = self.leave.recv() => {
                    let _ = self.members.delete(&key).await;
                    let _ = done.send(());
                    return;
                }
            }
            if !dirty {
                continue;
            }
            dirty = false;
            let now = Instant::now();
            if now.duration_since(last_ok) >= heartbeat * 3 / 4 {
                self.put(&key, &acks, &mut last_ok).await;
            }
            if !caught_up {
                continue;
            }
            let now = Instant::now();
            let placed = members.placed(now, dead_after);
            let me = &self.record.node;
            if self.record.status == Status::Joining && placed.contains(me) {
                self.record.status = Status::Active;
                self.put(&key, &acks, &mut last_ok).await;
            }
            // Heartbeats have not got through for long enough that the others may have
            // declared this member dead: serve nothing until they get through again.
            let fenced = now.duration_since(last_ok) + heartbeat >= dead_after;
            // Joiners to hand shards to (only an active member owns any).
            let joiners = members.joiners(now, dead_after, me);
            if self.record.status == Status::Active {
                for tag in &joiners {
                    if handing.insert(tag.clone()) {
                        let mut to = handing_nodes(&handing);
                        to.insert(node_of(tag).to_owned());
                        let released = self.host.set_view(&placed, &to, fenced);
                        let host = Arc::clone(&self.host);
                        let acked_tx = acked_tx.clone();
                        let tag = tag.clone();
                        tokio::spawn(async move {
                            host.drain(released).await;
                            let _ = acked_tx.send(tag);
                        });
                    }
                }
            }
            // Forget joiners that are placed now, dead, or restarted.
            handing.retain(|tag| joiners.contains(tag));
            acks.retain(|tag| joiners.contains(tag));
            let released = self
                .host
                .set_view(&placed, &handing_nodes(&handing), fenced);
            if !released.is_empty() {
                let host = Arc::clone(&self.host);
                tokio::spawn(async move { host.drain(released).await });
            }
            let view = View {
                placed: placed.into(),
                departed: members
                    .departed(now, self.config.failover_timeout * 2)
                    .into(),
            };
            self.view.send_if_modified(|current| {
                if *current == view {
                    false
                } else {
                    *current = view;
                    true
                }
            });
        }
    }

    /// Every member's current heartbeat, read key by key.
    async fn read_all(&self) -> Result<Vec<kv::Entry>, String> {
        let read = async {
            let mut keys = self.members.keys().await.map_err(|e| e.to_string())?;
            let mut entries = Vec::new();
            while let Some(key) = keys.next().await {
                let key = key.map_err(|e| e.to_string())?;
                if let Some(entry) = self.members.entry(key).await.map_err(|e| e.to_string())? {
                    entries.push(entry);
                }
            }
            Ok(entries)
        };
        tokio::time::timeout(self.config.heartbeat_interval * 2, read)
            .await
            .map_err(|_| "timed out".to_owned())?
    }

    /// Writes the heartbeat (bounded by one interval, so a stalled server does not stall
    /// the loop).
    async fn put(&self, key: &str, acks: &BTreeSet<String>, last_ok: &mut Instant) {
        let mut record = self.record.clone();
        record.acks = acks.iter().cloned().collect();
        let value = serde_json::to_vec(&record).expect("a record is JSON");
        let put = self.members.put(key, value.into());
        match tokio::time::timeout(self.config.heartbeat_interval, put).await {
            Ok(Ok(_)) => *last_ok = Instant::now(),
            Ok(Err(err)) => {
                tracing::warn!(node = %self.record.node, error = %err, "heartbeat failed")
            }
            Err(_) => tracing::warn!(node = %self.record.node, "heartbeat timed out"),
        }
    }
}

fn node_of(tag: &str) -> &str {
    tag.split_once('@').map_or(tag, |(node, _)| node)
}

fn handing_nodes(handing: &BTreeSet<String>) -> BTreeSet<String> {
    handing.iter().map(|t| node_of(t).to_owned()).collect()
}

/// Takes a watched entry into `members`, dating it by its age on the server (a stale key
/// of a dead member is dead at once, not after the dead-after time).
fn observe(members: &mut Members, entry: kv::Entry) {
    let node = entry.key.strip_prefix("members.").unwrap_or(&entry.key);
    match entry.operation {
        Operation::Delete | Operation::Purge => members.remove(node, Instant::now()),
        Operation::Put => {
            let Ok(record) = serde_json::from_slice::<Record>(&entry.value) else {
                tracing::warn!(key = %entry.key, "a member's heartbeat does not decode; ignored");
                return;
            };
            let age = time::OffsetDateTime::now_utc() - entry.created;
            let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
            let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
            members.observe(record, at);
        }
    }
}
