//! What each JetStream request the store can make costs on this server: the profile
//! behind the store's choice of requests (issue 15).
//!
//! ```text
//! cargo run --release -p aether-nats --example nats_round_trips [-- <nats url>]
//! ```
//!
//! On a scratch stream shaped like the store's events stream (file storage,
//! `allow_direct`), with `ACTORS` subjects of `PER_ACTOR` messages each, interleaved:
//!
//! - sequential (one request after the other, one task): a publish and its ack, the same
//!   with `Nats-Expected-Last-Subject-Sequence`, a direct get of a subject's last message,
//!   the same through the JetStream API (`STREAM.MSG.GET`, answered by the leader), a
//!   direct get of "the subject's next message from sequence s", and the read of one
//!   subject's `PER_ACTOR` messages with a short-lived pull consumer (create, fetch,
//!   delete) or with `PER_ACTOR` chained direct gets;
//! - concurrent (one task per subject, all at once, as a restart of `ACTORS` actors is):
//!   the same two reads of every subject's messages, and the read the store makes (one
//!   direct get by sequence per message, newest first).
//!
//! The stream is deleted at the end.

use std::time::{Duration, Instant};

use async_nats::jetstream::{
    self,
    consumer::{pull, AckPolicy, DeliverPolicy},
    message::PublishMessage,
    stream,
};
use futures::StreamExt;

const ACTORS: usize = 500;
const PER_ACTOR: usize = 20;
const SEQUENTIAL: usize = 2_000;

fn report(what: &str, n: usize, elapsed: Duration) {
    println!(
        "{what:<64} {n:>6} in {:>8.1} ms: {:>8.1} µs each, {:>9.0}/s",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / n as f64,
        n as f64 / elapsed.as_secs_f64()
    );
}

fn subject(actor: usize) -> String {
    format!("rt.probe.s{actor}")
}

/// Reads one subject's messages with chained direct gets; returns how many.
async fn read_direct(stream: &jetstream::stream::Stream, subject: &str) -> usize {
    let mut next = 1;
    let mut n = 0;
    while let Ok(message) = stream
        .direct_get_next_for_subject(subject, Some(next))
        .await
    {
        n += 1;
        next = message.sequence + 1;
    }
    n
}

/// Reads one subject's messages with a short-lived pull consumer; returns how many.
async fn read_consumer(stream: &jetstream::stream::Stream, subject: &str, count: usize) -> usize {
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subject.to_owned(),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            memory_storage: true,
            ..Default::default()
        })
        .await
        .expect("create consumer");
    let name = consumer.cached_info().name.clone();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(500)
        .messages()
        .await
        .expect("messages");
    let mut n = 0;
    while n < count {
        messages.next().await.expect("a message").expect("ok");
        n += 1;
    }
    drop(messages);
    stream
        .delete_consumer(&name)
        .await
        .expect("delete consumer");
    n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let client = async_nats::connect(&url).await.expect("connect");
    let js = jetstream::new(client);
    let name = format!("rt_probe_{}", std::process::id());
    let stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec!["rt.probe.*".to_owned()],
            storage: stream::StorageType::File,
            allow_direct: true,
            ..Default::default()
        })
        .await
        .expect("create stream");
    let payload = bytes::Bytes::from(vec![b'x'; 230]);

    // Fill: ACTORS subjects × PER_ACTOR messages, interleaved.
    let mut last = vec![0u64; ACTORS];
    let mut sequences = vec![Vec::new(); ACTORS];
    for _ in 0..PER_ACTOR {
        let acks: Vec<_> = futures::future::join_all((0..ACTORS).map(|a| {
            let js = js.clone();
            let payload = payload.clone();
            async move {
                js.publish(subject(a), payload)
                    .await
                    .unwrap()
                    .await
                    .unwrap()
            }
        }))
        .await;
        for (a, ack) in acks.into_iter().enumerate() {
            last[a] = ack.sequence;
            sequences[a].push(ack.sequence);
        }
    }

    let t = Instant::now();
    for _ in 0..SEQUENTIAL {
        js.publish("rt.probe.seq", payload.clone())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    report("publish + ack", SEQUENTIAL, t.elapsed());

    let mut expected = js
        .publish("rt.probe.exp", payload.clone())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence;
    let t = Instant::now();
    for _ in 0..SEQUENTIAL {
        expected = js
            .send_publish(
                "rt.probe.exp",
                PublishMessage::build()
                    .payload(payload.clone())
                    .expected_last_subject_sequence(expected),
            )
            .await
            .unwrap()
            .await
            .unwrap()
            .sequence;
    }
    report(
        "publish + ack, expected last subject sequence",
        SEQUENTIAL,
        t.elapsed(),
    );

    let t = Instant::now();
    for i in 0..SEQUENTIAL {
        stream
            .direct_get_last_for_subject(subject(i % ACTORS))
            .await
            .unwrap();
    }
    report(
        "direct get, subject's last message",
        SEQUENTIAL,
        t.elapsed(),
    );

    let t = Instant::now();
    for i in 0..SEQUENTIAL {
        stream
            .get_last_raw_message_by_subject(&subject(i % ACTORS))
            .await
            .unwrap();
    }
    report(
        "API STREAM.MSG.GET, subject's last message (leader)",
        SEQUENTIAL,
        t.elapsed(),
    );

    let t = Instant::now();
    for i in 0..SEQUENTIAL {
        let a = i % ACTORS;
        stream
            .direct_get_next_for_subject(subject(a), Some(last[a] / 2))
            .await
            .unwrap();
    }
    report(
        "direct get, subject's next message from a sequence",
        SEQUENTIAL,
        t.elapsed(),
    );

    let reads = 100;
    let t = Instant::now();
    for a in 0..reads {
        assert_eq!(read_direct(&stream, &subject(a)).await, PER_ACTOR);
    }
    report(
        &format!("read a subject's {PER_ACTOR} messages, chained direct gets"),
        reads,
        t.elapsed(),
    );
    let t = Instant::now();
    for a in 0..reads {
        read_consumer(&stream, &subject(a), PER_ACTOR).await;
    }
    report(
        &format!("read a subject's {PER_ACTOR} messages, consumer create/fetch/delete"),
        reads,
        t.elapsed(),
    );

    let t = Instant::now();
    let tasks: Vec<_> = (0..ACTORS)
        .map(|a| {
            let stream = stream.clone();
            tokio::spawn(async move { read_direct(&stream, &subject(a)).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), PER_ACTOR);
    }
    report(
        &format!("{ACTORS} subjects at once, {PER_ACTOR} messages each, direct gets"),
        ACTORS,
        t.elapsed(),
    );
    let t = Instant::now();
    let tasks: Vec<_> = sequences
        .iter()
        .cloned()
        .map(|known| {
            let stream = stream.clone();
            tokio::spawn(async move {
                // Newest first, as the store walks back along the previous sequences.
                for sequence in known.into_iter().rev() {
                    stream.direct_get(sequence).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    report(
        &format!("{ACTORS} subjects at once, {PER_ACTOR} messages each, direct gets by sequence"),
        ACTORS,
        t.elapsed(),
    );
    let t = Instant::now();
    let tasks: Vec<_> = (0..ACTORS)
        .map(|a| {
            let stream = stream.clone();
            tokio::spawn(async move { read_consumer(&stream, &subject(a), PER_ACTOR).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    report(
        &format!("{ACTORS} subjects at once, {PER_ACTOR} messages each, consumers"),
        ACTORS,
        t.elapsed(),
    );
    let t = Instant::now();
    let tasks: Vec<_> = (0..ACTORS)
        .map(|a| {
            let stream = stream.clone();
            tokio::spawn(async move {
                stream
                    .direct_get_last_for_subject(subject(a))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    report(
        &format!("{ACTORS} subjects at once, last message, direct get"),
        ACTORS,
        t.elapsed(),
    );
    let t = Instant::now();
    let tasks: Vec<_> = (0..ACTORS)
        .map(|a| {
            let stream = stream.clone();
            tokio::spawn(async move {
                stream
                    .get_last_raw_message_by_subject(&subject(a))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    report(
        &format!("{ACTORS} subjects at once, last message, API (leader)"),
        ACTORS,
        t.elapsed(),
    );

    js.delete_stream(&name).await.expect("delete stream");
}
