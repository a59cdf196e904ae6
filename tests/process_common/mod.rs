//! Not the shared `testkit::account::Account`: [`Bank`]'s events carry their command id
//! and part, and its state a digest of them in order, which the checks below need.
//!
//! Shared pieces of the process-level reliability tests (`tests/reliability_*.rs`):
//!
//! - [`Bank`], a hand-written actor whose commands carry their own id in every event,
//!   so a stored history can be cut back into commands and checked for half-applied
//!   ones, and whose state carries an order-sensitive digest, so "state == replay" also
//!   compares the order of the events;
//! - [`Child`], a child process (the test binary re-executed in a child mode) whose
//!   stdout lines are read on a thread of their own;
//! - [`StoreSpec`], how a child is told which store to open;
//! - [`verify`], the check every test ends with: each stored command is whole, each
//!   acknowledged command is stored, and each actor's state served by a *fresh* runtime
//!   equals a full replay of its stored events;
//! - the backend-reachability rule (fail under `CI=true`, else skip with a reason), a
//!   seeded random generator, and a resident-memory sampler.
#![allow(dead_code, unreachable_pub)]

#[path = "../servers/mod.rs"]
pub mod servers;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aether::{
    stored_actor_id, Decision, DomainEvent, Event, EventDecodeError, EventSourced, Runtime,
    SnapshotStore,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// The actor

/// Every `decide` of a deposit, in this process: `decides - commands` is the number of
/// retries after version conflicts.
pub static DECIDES: AtomicU64 = AtomicU64::new(0);

/// An account whose deposits may be split in several events (one command, `parts`
/// events, persisted atomically).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bank {
    pub balance: i64,
    /// Events applied: the actor's version, since histories have no gaps.
    pub events: u64,
    /// Order-sensitive digest of every applied event.
    pub digest: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposited {
    pub cmd: String,
    pub amount: i64,
    pub part: u32,
    pub parts: u32,
}

impl DomainEvent for Deposited {
    fn event_type(&self) -> &str {
        "Deposited"
    }

    fn to_data(&self) -> Result<Value, serde_json::Error> {
        Ok(
            json!({ "cmd": self.cmd, "amount": self.amount, "part": self.part, "parts": self.parts }),
        )
    }

    fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
        if event_type != "Deposited" {
            return Err(EventDecodeError::unknown_type(event_type));
        }
        let field = |name: &str| {
            data[name].as_i64().ok_or_else(|| {
                EventDecodeError::invalid_data(event_type, format!("{name} is not an integer"))
            })
        };
        Ok(Deposited {
            cmd: data["cmd"]
                .as_str()
                .ok_or_else(|| EventDecodeError::invalid_data(event_type, "cmd is not a string"))?
                .to_owned(),
            amount: field("amount")?,
            part: field("part")? as u32,
            parts: field("parts")? as u32,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankCmd {
    /// Deposits `amount` in each of `parts` events.
    Deposit {
        cmd: String,
        amount: i64,
        parts: u32,
    },
    /// A query: the state.
    Get,
}

impl BankCmd {
    pub fn deposit(cmd: impl Into<String>, amount: i64, parts: u32) -> BankCmd {
        BankCmd::Deposit {
            cmd: cmd.into(),
            amount,
            parts,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("amount and parts must be positive")]
pub struct BadDeposit;

impl EventSourced for Bank {
    const ACTOR_TYPE: &'static str = "Bank";
    type Command = BankCmd;
    type Event = Deposited;
    /// The state after the command.
    type Reply = Bank;
    type Error = BadDeposit;

    fn decide(&self, command: &BankCmd) -> Result<Decision<Deposited, Bank>, BadDeposit> {
        let BankCmd::Deposit { cmd, amount, parts } = command else {
            return Ok(Decision::reply(self.clone()));
        };
        DECIDES.fetch_add(1, Ordering::Relaxed);
        if *amount <= 0 || *parts == 0 {
            return Err(BadDeposit);
        }
        let events: Vec<Deposited> = (0..*parts)
            .map(|part| Deposited {
                cmd: cmd.clone(),
                amount: *amount,
                part,
                parts: *parts,
            })
            .collect();
        let mut after = self.clone();
        for event in &events {
            after.apply(event);
        }
        Ok(Decision::new(events, after))
    }

    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
        self.events += 1;
        let mut h = self.digest ^ 0xcbf2_9ce4_8422_2325;
        for b in event
            .cmd
            .bytes()
            .chain(event.amount.to_le_bytes())
            .chain(event.part.to_le_bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.digest = h;
    }
}

impl Bank {
    /// The state a full replay of `events` gives.
    pub fn replay(events: &[Event]) -> Bank {
        let mut state = Bank::default();
        for e in events {
            state.apply(&Deposited::from_data(&e.event_type, &e.data).expect("decodable"));
        }
        state
    }
}

/// The stored id of Bank actor `id`.
pub fn bank_id(id: &str) -> String {
    stored_actor_id::<Bank>(id)
}

// ---------------------------------------------------------------------------------------
// Acknowledgements, as children print them

/// One acknowledged deposit: `ACK <actor> <cmd> <version> <amount> <parts>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub actor: String,
    pub cmd: String,
    /// The actor's version after the command (the version of its last event).
    pub version: u64,
    pub amount: i64,
    pub parts: u32,
}

impl Ack {
    pub fn line(&self) -> String {
        format!(
            "ACK {} {} {} {} {}",
            self.actor, self.cmd, self.version, self.amount, self.parts
        )
    }

    pub fn parse(line: &str) -> Option<Ack> {
        let mut parts = line.strip_prefix("ACK ")?.split(' ');
        Some(Ack {
            actor: parts.next()?.to_owned(),
            cmd: parts.next()?.to_owned(),
            version: parts.next()?.parse().ok()?,
            amount: parts.next()?.parse().ok()?,
            parts: parts.next()?.parse().ok()?,
        })
    }
}

/// The tokio runtime a child process runs its aether runtime on: 2 workers, like CI.
pub fn child_tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the child")
}

/// Prints a line to stdout and flushes it: once the parent has read it, it was said.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("flush stdout");
}

/// Sends an acknowledged command again with the same command id, as a client whose
/// acknowledgement was lost would. The actor must not apply it twice: the answer is the
/// first reply again (while the actor keeps it) or `AskError::Duplicate` naming the
/// acknowledged versions. An outage error leaves nothing to check here (the command is
/// stored once already; [`verify`] counts its events). Returns what was wrong, if any.
pub async fn resend_acknowledged(
    actor: &aether::ActorRef<Bank>,
    command: BankCmd,
    cmd: &str,
    first: &Bank,
) -> Result<(), String> {
    let BankCmd::Deposit { parts, .. } = &command else {
        return Err(format!("{cmd}: only deposits are resent"));
    };
    let parts = u64::from(*parts);
    let result = actor
        .ask_with(command, aether::AskOptions::new().command_id(cmd))
        .await;
    match result {
        Ok(reply) if reply == *first => Ok(()),
        Ok(reply) => Err(format!(
            "{cmd} resent to {}: applied again (reply at version {}, first at {})",
            actor.id(),
            reply.events,
            first.events
        )),
        Err(aether::AskError::Duplicate {
            version,
            first_version,
            ..
        }) if version as u64 == first.events
            && (first.events + 1 - first_version as u64) == parts =>
        {
            Ok(())
        }
        // An outage (store error, timeout, failed start): nothing was applied.
        Err(err) if err.is_retryable() && !matches!(err, aether::AskError::Conflict { .. }) => {
            Ok(())
        }
        Err(err) => Err(format!("{cmd} resent to {}: {err}", actor.id())),
    }
}

// ---------------------------------------------------------------------------------------
// Verification

/// What [`verify`] found.
#[derive(Debug, Default, Clone)]
pub struct Verified {
    pub actors: usize,
    pub events: usize,
    /// Whole commands stored.
    pub commands: usize,
    /// Distinct command ids stored, each counted to one application's worth of events.
    pub command_ids: usize,
    /// Stored commands nobody saw acknowledged (in flight at a kill, or a lost ack).
    pub unacknowledged: usize,
    /// Their command ids.
    pub unacknowledged_ids: Vec<String>,
    /// Per actor: the sum they deposited.
    pub unacknowledged_amounts: BTreeMap<String, i64>,
    /// Actors with a stored snapshot (each equal to a replay up to its version).
    pub snapshots: usize,
    /// Per actor: the balance (equal to the replay and to the fresh runtime's state).
    pub balances: BTreeMap<String, i64>,
}

/// Checks the store against the acknowledgements:
///
/// 1. every history is gapless from version 1, and cuts into whole commands: each
///    command's `parts` events are consecutive, numbered `0..parts`, and carry the
///    command id in `command_id` (no half-applied command);
/// 2. every acknowledged command is stored, its last event at the acknowledged version;
/// 3. every stored snapshot equals a replay of the events up to its version;
/// 4. no command id is applied twice: the events carrying each id, counted over every
///    history, are exactly one application's worth (its command's `parts`);
/// 5. a fresh runtime over the store (snapshot + tail) serves each actor's state equal to
///    a full replay of its stored events.
///
/// `acks` may name each command once; `actors` lists every actor that may have events.
pub async fn verify(store: Arc<dyn SnapshotStore>, actors: &[String], acks: &[Ack]) -> Verified {
    let mut histories: HashMap<String, Vec<Event>> = HashMap::new();
    let mut found = Verified {
        actors: actors.len(),
        ..Verified::default()
    };
    // Stored commands: cmd -> (actor, last version, parts, amount).
    let mut stored: HashMap<String, (String, u64, u32, i64)> = HashMap::new();
    // Events per command id over every history: (count, parts of one application).
    let mut per_id: HashMap<String, (usize, u32)> = HashMap::new();
    for actor in actors {
        let events = store
            .get_events(&bank_id(actor), 0)
            .await
            .unwrap_or_else(|e| panic!("{actor}: get_events: {e}"));
        // No command id applied twice, counted directly from the stored events: each id
        // carries exactly one application's worth of events (its command's `parts`).
        let mut mine: HashMap<String, (usize, u32)> = HashMap::new();
        for e in &events {
            let id = e.command_id.clone().unwrap_or_else(|| {
                panic!("{actor} v{}: an event without its command id", e.version)
            });
            let d = Deposited::from_data(&e.event_type, &e.data)
                .unwrap_or_else(|err| panic!("{actor} v{}: {err}", e.version));
            mine.entry(id).or_insert((0, d.parts)).0 += 1;
        }
        for (id, (count, parts)) in mine {
            assert_eq!(
                count, parts as usize,
                "{actor}: command id {id}: {count} events stored, one application is {parts}: applied more than once"
            );
            let other = per_id.insert(id.clone(), (count, parts));
            assert!(other.is_none(), "command id {id} is applied to two actors");
        }
        let mut i = 0;
        while i < events.len() {
            let first = &events[i];
            let d = Deposited::from_data(&first.event_type, &first.data)
                .unwrap_or_else(|e| panic!("{actor} v{}: {e}", first.version));
            assert_eq!(
                d.part, 0,
                "{actor} v{}: command {} starts at part {}",
                first.version, d.cmd, d.part
            );
            let parts = d.parts as usize;
            assert!(
                i + parts <= events.len(),
                "{actor}: command {} is half-applied: {} of its {parts} events stored",
                d.cmd,
                events.len() - i
            );
            for (k, e) in events[i..i + parts].iter().enumerate() {
                let p = Deposited::from_data(&e.event_type, &e.data).expect("decodable");
                assert_eq!(
                    (p.cmd.as_str(), p.part as usize, e.command_id.as_deref()),
                    (d.cmd.as_str(), k, Some(d.cmd.as_str())),
                    "{actor} v{}: command {} is half-applied or interleaved",
                    e.version,
                    d.cmd
                );
            }
            let last = events[i + parts - 1].version as u64;
            let previous = stored.insert(d.cmd.clone(), (actor.clone(), last, d.parts, d.amount));
            assert!(previous.is_none(), "command {} is stored twice", d.cmd);
            found.commands += 1;
            i += parts;
        }
        for (k, e) in events.iter().enumerate() {
            assert_eq!(e.version, k as i64 + 1, "{actor}: history has a gap");
        }
        let snapshot = store
            .get_latest_snapshot(&bank_id(actor))
            .await
            .unwrap_or_else(|e| panic!("{actor}: get_latest_snapshot: {e}"));
        if let Some(snapshot) = snapshot {
            let at = usize::try_from(snapshot.version).expect("snapshot version");
            assert!(
                at <= events.len(),
                "{actor}: snapshot v{at} is past the history"
            );
            let state: Bank = serde_json::from_value(snapshot.state).expect("snapshot state");
            assert_eq!(
                state,
                Bank::replay(&events[..at]),
                "{actor}: snapshot v{at} differs from a replay up to it"
            );
            found.snapshots += 1;
        }
        found.events += events.len();
        histories.insert(actor.clone(), events);
    }
    found.command_ids = per_id.len();
    for ack in acks {
        let Some((actor, last, parts, amount)) = stored.get(&ack.cmd) else {
            panic!(
                "acknowledged command {} of {} is not stored",
                ack.cmd, ack.actor
            );
        };
        assert_eq!(
            (actor, *last, *parts, *amount),
            (&ack.actor, ack.version, ack.parts, ack.amount),
            "acknowledged command {} is stored differently",
            ack.cmd
        );
    }
    found.unacknowledged = found.commands.saturating_sub(acks.len());
    let acked: std::collections::HashSet<&str> = acks.iter().map(|a| a.cmd.as_str()).collect();
    for (cmd, (actor, _, parts, amount)) in &stored {
        if !acked.contains(cmd.as_str()) {
            found.unacknowledged_ids.push(cmd.clone());
            *found
                .unacknowledged_amounts
                .entry(actor.clone())
                .or_default() += amount * i64::from(*parts);
        }
    }

    // A fresh runtime: rehydrates from the latest snapshot plus the events after it.
    let runtime = Runtime::builder(Arc::clone(&store))
        .passivate_after(None)
        .snapshot_every(0)
        .build();
    let mut tasks = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    for actor in actors {
        let (runtime, actor, limit) = (runtime.clone(), actor.clone(), Arc::clone(&limit));
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let state = runtime
                .actor::<Bank>(&actor)
                .ask_timeout(BankCmd::Get, Duration::from_secs(60))
                .await
                .unwrap_or_else(|e| panic!("{actor}: fresh runtime: {e}"));
            (actor, state)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (actor, state) = joined.expect("query task");
        let replay = Bank::replay(&histories[&actor]);
        assert_eq!(
            state, replay,
            "{actor}: rehydrated state differs from a full replay"
        );
        found.balances.insert(actor, state.balance);
    }
    runtime.shutdown().await;
    found
}

// ---------------------------------------------------------------------------------------
// Stores

/// Which store a child opens, as one string (`sqlite:<path>`, `postgres:<schema>:<app>`,
/// `nats:<namespace>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Sqlite(String),
    Postgres { schema: String, app: String },
    Nats { namespace: String },
}

impl StoreSpec {
    pub fn encode(&self) -> String {
        match self {
            StoreSpec::Sqlite(path) => format!("sqlite:{path}"),
            StoreSpec::Postgres { schema, app } => format!("postgres:{schema}:{app}"),
            StoreSpec::Nats { namespace } => format!("nats:{namespace}"),
        }
    }

    pub fn decode(s: &str) -> StoreSpec {
        if let Some(path) = s.strip_prefix("sqlite:") {
            return StoreSpec::Sqlite(path.to_owned());
        }
        if let Some(namespace) = s.strip_prefix("nats:") {
            return StoreSpec::Nats {
                namespace: namespace.to_owned(),
            };
        }
        let rest = s.strip_prefix("postgres:").expect("a store spec");
        let (schema, app) = rest.split_once(':').expect("postgres:<schema>:<app>");
        StoreSpec::Postgres {
            schema: schema.to_owned(),
            app: app.to_owned(),
        }
    }

    /// Opens the store (PostgreSQL: the schema is created if missing; NATS: the
    /// namespace's stream and bucket).
    pub async fn open(&self) -> Arc<dyn SnapshotStore> {
        match self {
            #[cfg(feature = "sqlite")]
            StoreSpec::Sqlite(path) => Arc::new(
                aether::sqlite::SqliteStore::open(path)
                    .await
                    .expect("open the SQLite file"),
            ),
            #[cfg(feature = "postgres")]
            StoreSpec::Postgres { schema, app } => Arc::new(
                pg::builder(schema, app)
                    .connect()
                    .await
                    .expect("connect to PostgreSQL"),
            ),
            #[cfg(feature = "nats")]
            StoreSpec::Nats { namespace } => Arc::new(
                nats::connect(namespace)
                    .await
                    .unwrap_or_else(|err| panic!("connect to NATS: {err}")),
            ),
            #[allow(unreachable_patterns)]
            other => panic!("store {other:?} is not compiled in"),
        }
    }
}

/// The reachability rule: under `CI=true` a test that cannot reach its server fails;
/// elsewhere it prints why and is skipped.
pub fn unreachable(what: &str, err: impl std::fmt::Display) {
    servers::unreachable(what, err)
}

/// Whether the heavy variants run (`AETHER_HEAVY=1`).
pub fn heavy() -> bool {
    std::env::var("AETHER_HEAVY").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A name no other test uses (schemas, application names, namespaces), with the time it
/// was made (see [`servers::unique_name`]).
pub fn unique_name(prefix: &str) -> String {
    servers::unique_name(prefix)
}

#[cfg(feature = "nats")]
pub mod nats {
    //! NATS helpers: a fresh namespace per test, deleted by a guard.
    use std::time::Duration;

    use aether::nats::{ConnectError, NatsStore};

    pub use super::servers::NamespaceGuard;

    /// Connects to the namespace (creating its stream and bucket).
    pub async fn connect(namespace: &str) -> Result<NatsStore, ConnectError> {
        NatsStore::builder(super::servers::nats_url())
            .namespace(namespace)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
    }

    /// Waits until the actors' histories have not grown for 300 ms (at most 20 s): the
    /// publishes a killed child had already written to its socket have landed. There is
    /// no event to wait for (the server does not say when it has read a closed
    /// connection to its end); a publish cannot arrive later than the server takes to
    /// read the child's last bytes, which is far below 300 ms on one machine.
    pub async fn wait_until_quiet(store: &NatsStore, actors: &[String]) {
        use aether::EventStore;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut last = None;
        let mut since = tokio::time::Instant::now();
        loop {
            let mut total = 0i64;
            for actor in actors {
                total += store
                    .get_latest_version(&super::bank_id(actor))
                    .await
                    .unwrap_or_else(|e| panic!("{actor}: get_latest_version: {e}"));
            }
            let now = tokio::time::Instant::now();
            if last != Some(total) {
                last = Some(total);
                since = now;
            } else if now - since >= Duration::from_millis(300) {
                return;
            }
            assert!(
                now < deadline,
                "the histories kept growing for 20 s after the kill"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A fresh namespace with its guard; `None` (after the reachability rule) when the
    /// server cannot be reached.
    pub async fn fresh(label: &str) -> Option<(String, NamespaceGuard)> {
        let namespace = super::servers::nats_namespace(label);
        match connect(&namespace).await {
            Ok(_) => Some((namespace.clone(), NamespaceGuard(namespace))),
            Err(err @ (ConnectError::Unreachable { .. } | ConnectError::Timeout { .. })) => {
                super::unreachable("NATS", err);
                None
            }
            Err(err) => panic!("NATS is reachable but the store cannot be set up: {err}"),
        }
    }
}

#[cfg(feature = "postgres")]
pub mod pg {
    //! PostgreSQL helpers: a fresh schema per test, the test's own sessions.
    use std::time::Duration;

    use aether::postgres::{PostgresStore, PostgresStoreBuilder};

    #[allow(unused_imports)]
    pub use super::servers::SchemaGuard;

    /// `AETHER_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
    pub fn url() -> String {
        super::servers::pg_url()
    }

    pub fn builder(schema: &str, app: &str) -> PostgresStoreBuilder {
        PostgresStore::builder(url())
            .schema(schema)
            .application_name(app)
            .connect_timeout(Duration::from_secs(5))
    }

    /// A raw connection for the test's own SQL; `None` (after the reachability rule)
    /// when the server cannot be reached. The first one of a process sweeps the schemas
    /// killed runs left behind.
    pub async fn admin() -> Option<tokio_postgres::Client> {
        match tokio_postgres::connect(&url(), tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                super::servers::pg_sweep(&client).await;
                Some(client)
            }
            Err(err) => {
                super::unreachable("PostgreSQL", err);
                None
            }
        }
    }

    /// Terminates the sessions of this application name only; returns how many.
    pub async fn terminate(admin: &tokio_postgres::Client, app: &str) -> i64 {
        admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND application_name = $1",
                &[&app],
            )
            .await
            .expect("pg_terminate_backend")
            .get(0)
    }

    /// Waits until no session of `app` is left (a killed child's statements may still
    /// be finishing on the server).
    pub async fn wait_for_sessions_to_end(admin: &tokio_postgres::Client, app: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let n: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .await
                .expect("pg_stat_activity")
                .get(0);
            if n == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sessions of {app} did not end"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Child processes

/// A child process: this test binary re-run with `--exact <test>` and an environment
/// variable selecting the child's side. Its stdout lines arrive through a channel.
pub struct Child {
    process: std::process::Child,
    lines: mpsc::Receiver<String>,
    stdin: Option<std::process::ChildStdin>,
}

impl Child {
    pub fn spawn(test: &str, env: &[(&str, String)]) -> Child {
        let mut command = Command::new(std::env::current_exe().expect("current_exe"));
        command
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut process = command.spawn().expect("spawn the child");
        let stdout = BufReader::new(process.stdout.take().expect("piped stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = process.stdin.take();
        Child {
            process,
            lines,
            stdin,
        }
    }

    /// Writes a line to the child's stdin (see [`wait_for_line_on_stdin`]).
    pub fn send_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("the child's stdin");
        writeln!(stdin, "{line}").expect("write to the child");
        stdin.flush().expect("flush to the child");
    }

    /// Reads lines until one equals `wanted`; panics if the child ends first or after
    /// `timeout` in all.
    pub fn wait_for(&self, wanted: &str, timeout: Duration) {
        self.wait_for_seeing(wanted, timeout, |_| {});
    }

    /// [`wait_for`](Self::wait_for), handing every line read (the wanted one too) to
    /// `seen`.
    pub fn wait_for_seeing(&self, wanted: &str, timeout: Duration, mut seen: impl FnMut(&str)) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    seen(&line);
                    if line == wanted {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the child ended before printing {wanted:?}")
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the child did not print {wanted:?} within {timeout:?}")
                }
            }
        }
    }

    /// The lines the child has written so far, without waiting.
    pub fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// The next line, `None` at the end of the output; panics after `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the child printed nothing for {timeout:?}")
            }
        }
    }

    /// SIGKILL (std's `kill` on Unix), then waits for the exit; returns the lines the
    /// child wrote before it died.
    pub fn kill(mut self) -> Vec<String> {
        self.process.kill().expect("SIGKILL the child");
        let status = self.process.wait().expect("wait for the child");
        assert!(!status.success(), "the child was killed: {status:?}");
        self.lines.iter().collect()
    }

    /// Waits for the child to finish on its own (at most `timeout`), returning the rest
    /// of its output; asserts it succeeded.
    pub fn finish(mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => rest.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.process.kill();
                    panic!("the child did not finish within {timeout:?}");
                }
            }
        }
        let status = self.process.wait().expect("wait for the child");
        assert!(status.success(), "the child failed: {status:?}");
        rest
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The child's side of a start barrier: blocks until the parent writes a line.
pub fn wait_for_line_on_stdin() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("read stdin");
}

// ---------------------------------------------------------------------------------------
// Randomness and memory

/// SplitMix64: a small seeded generator (the tests print their seed; `AETHER_SEED`
/// replays one).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// `AETHER_SEED`, or one from the clock; printed by the caller.
pub fn seed() -> u64 {
    std::env::var("AETHER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64
        })
}

/// This process's resident set size in bytes (`VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples [`rss_bytes`] every 20 ms on a thread of its own until dropped.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start() -> RssSampler {
        let peak = Arc::new(AtomicU64::new(rss_bytes().unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = rss_bytes() {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
