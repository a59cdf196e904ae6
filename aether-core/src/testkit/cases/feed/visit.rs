//! The lending read of the feed: [`EventFeed::visit_feed`] and the [`Decoded`] items read
//! through it must give what [`EventFeed::read_feed`] gives.

use std::any::Any;
use std::ops::ControlFlow;
use std::sync::Arc;

use serde_json::json;

use super::read_all;
use crate::testkit::cases::support::{actor, event};
use crate::{
    Decoded, Event, EventFeed, EventRef, EventStore, FeedDecode, FeedError, FeedEvent, FeedFilter,
    FeedItem, FeedVisitor, HandlerError, Position,
};

/// Keeps an owned copy of every event it is lent; breaks at the event of the page with
/// index `break_at`, if set.
struct Record {
    lent: Vec<FeedEvent>,
    /// How many times `visit` was called (the event it breaks at included).
    calls: usize,
    break_at: Option<usize>,
}

impl FeedVisitor for Record {
    fn visit(&mut self, position: Position, event: &EventRef<'_>) -> ControlFlow<()> {
        self.calls += 1;
        if self.break_at == Some(self.lent.len()) {
            return ControlFlow::Break(());
        }
        let event = event.to_event().unwrap_or_else(|err| {
            panic!("the event lent at {position} has a payload that does not parse: {err}")
        });
        self.lent.push(FeedEvent { position, event });
        ControlFlow::Continue(())
    }
}

/// One `visit_feed` call with a [`Record`]: what it lent, how many times the visitor was
/// called, and the page's `next`.
async fn visit<S: EventFeed + ?Sized>(
    store: &S,
    after: Position,
    filter: &FeedFilter,
    limit: usize,
    break_at: Option<usize>,
) -> (Vec<FeedEvent>, usize, Position) {
    let visitor = Box::new(Record {
        lent: Vec::new(),
        calls: 0,
        break_at,
    });
    let page = store
        .visit_feed(after, filter, limit, visitor)
        .await
        .unwrap_or_else(|err| panic!("visit_feed after {after} (limit {limit}): {err}"));
    let visitor: Box<dyn Any> = page.visitor;
    let record = visitor
        .downcast::<Record>()
        .expect("visit_feed gives back the visitor it was given");
    (record.lent, record.calls, page.next)
}

/// Visits the feed page by page from the start, checking each page against the page
/// `read_feed` gives from the same position: the same events, field by field (payload as
/// JSON values), and the same `next`. Returns every event lent.
async fn visit_all_as_read<S: EventFeed + ?Sized>(
    store: &S,
    filter: &FeedFilter,
    limit: usize,
) -> Vec<FeedEvent> {
    let mut after = Position::START;
    let mut all = Vec::new();
    loop {
        let read = store
            .read_feed(after, filter, limit)
            .await
            .expect("reading the feed");
        let (lent, calls, next) = visit(store, after, filter, limit, None).await;
        assert_eq!(
            lent, read.events,
            "visit_feed after {after} (filter {filter:?}, limit {limit}) must lend exactly \
             the events read_feed returns, every field and payload equal"
        );
        assert_eq!(
            calls,
            lent.len(),
            "a visitor that never breaks is called once per event"
        );
        assert_eq!(
            next, read.next,
            "visit_feed after {after} (filter {filter:?}, limit {limit}): a visitor that \
             took every event gets read_feed's next"
        );
        let empty = lent.is_empty();
        all.extend(lent);
        if empty && next == after {
            return all;
        }
        after = next;
    }
}

/// What the [`Decoded`] case reads of each event: its actor, version and the `n` of its
/// payload.
#[derive(Debug, Clone, PartialEq)]
struct Noted {
    actor_id: String,
    version: i64,
    n: u64,
}

impl FeedDecode for Noted {
    fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError> {
        #[derive(serde::Deserialize)]
        struct Data {
            n: u64,
        }
        let data: Data = event.data.decode()?;
        Ok(Noted {
            actor_id: event.actor_id.to_owned(),
            version: event.version,
            n: data.n,
        })
    }
}

/// `visit_feed` lends exactly what `read_feed` returns, page by page, with and without a
/// filter, and the pages' `next`s agree; a visitor that breaks at the k-th event of a
/// page gets the k events before it, `next` is the last of them (or the position read
/// from), and a visit from there starts with the k-th; an empty store lends nothing.
/// [`Decoded`] items read through it ([`FeedItem::read_items`]) have the positions, and
/// the decoded payloads, of `read_feed`'s events.
pub async fn feed_visit_lends_what_read_feed_returns<S: EventStore + EventFeed>(store: Arc<S>) {
    // An empty store: nothing lent, nowhere to go; a limit of 0 refused as read_feed does.
    let (lent, calls, next) = visit(&*store, Position::START, &FeedFilter::all(), 10, None).await;
    assert!(lent.is_empty(), "an empty store lent {lent:?}");
    assert_eq!(calls, 0, "an empty store must not call the visitor");
    assert_eq!(next, Position::START, "nothing visited, nothing to skip");
    let refused = store
        .visit_feed(
            Position::START,
            &FeedFilter::all(),
            0,
            Box::new(Record {
                lent: Vec::new(),
                calls: 0,
                break_at: None,
            }),
        )
        .await;
    match refused {
        Err(FeedError::InvalidInput { .. }) => {}
        other => {
            panic!("a visit with a page limit of 0 must be refused as invalid input, got {other:?}")
        }
    }

    // Several actors and types, written by several saves; payloads of different shapes,
    // with and without a command id.
    let (a, b, c) = (
        actor("Account|visit-a"),
        actor("Account|visit-b"),
        actor("Order|visit-c"),
    );
    let other = |mut e: Event| {
        e.event_type = "Other".to_owned();
        e
    };
    let mut nested = event(&a, 3);
    nested.data = json!({ "n": 7, "list": [1, "two", null, { "x": 1.5 }], "text": "é \"q\"" });
    nested.command_id = None;
    let batches: Vec<Vec<Event>> = vec![
        vec![event(&a, 1), other(event(&a, 2))],
        vec![event(&b, 1)],
        vec![nested],
        vec![event(&c, 1), other(event(&c, 2)), event(&c, 3)],
        vec![other(event(&b, 2)), event(&b, 3)],
        vec![other(event(&a, 4))],
    ];
    for batch in &batches {
        store.save_events(batch).await.expect("saving a batch");
    }
    let saved: Vec<Event> = batches.into_iter().flatten().collect();
    let whole = read_all(&*store, Position::START, &FeedFilter::all(), 100).await;

    // (a) The whole feed, in pages of a few events.
    for limit in [1, 2, 3, 100] {
        let lent = visit_all_as_read(&*store, &FeedFilter::all(), limit).await;
        assert_eq!(
            lent, whole,
            "visiting the whole feed in pages of {limit} lends every event once, in order"
        );
        let lent: Vec<Event> = lent.into_iter().map(|e| e.event).collect();
        assert_eq!(
            lent, saved,
            "visiting lends the events as stored (pages of {limit})"
        );
    }

    // (b) Filtered by actor type, by event type, and by both.
    let filters = [
        FeedFilter::all().actor_type("Account"),
        FeedFilter::all().event_type("Other"),
        FeedFilter::all().actor_type("Account").event_type("Other"),
    ];
    for filter in &filters {
        let expected: Vec<&Event> = saved.iter().filter(|e| filter.matches(e)).collect();
        assert!(
            !expected.is_empty(),
            "the case's events include some of {filter:?}"
        );
        for limit in [1, 2, 100] {
            let lent = visit_all_as_read(&*store, filter, limit).await;
            let lent: Vec<&Event> = lent.iter().map(|e| &e.event).collect();
            assert_eq!(lent, expected, "filter {filter:?}, pages of {limit}");
        }
    }

    // (c) A visitor that breaks at the k-th event of a page, on pages from the start, from
    // the middle, and of a filtered feed.
    let account = FeedFilter::all().actor_type("Account");
    let starts = [
        (Position::START, FeedFilter::all()),
        (whole[2].position, FeedFilter::all()),
        (Position::START, account),
        // Events the filter leaves out lie between the ones it lets through: a break
        // must not move next past the last event taken.
        (Position::START, FeedFilter::all().event_type("Other")),
    ];
    for (after, filter) in &starts {
        const LIMIT: usize = 4;
        let page = store
            .read_feed(*after, filter, LIMIT)
            .await
            .expect("reading a page");
        assert!(
            page.events.len() >= 2,
            "the case needs pages of several events (after {after}, filter {filter:?})"
        );
        for k in 0..page.events.len() {
            let (lent, calls, next) = visit(&*store, *after, filter, LIMIT, Some(k)).await;
            assert_eq!(
                lent,
                page.events[..k],
                "a visitor breaking at event #{k} of the page after {after} (filter \
                 {filter:?}) is lent the {k} events before it"
            );
            assert_eq!(
                calls,
                k + 1,
                "after a break the page ends: no event is lent after the one refused"
            );
            let expected = if k == 0 {
                *after
            } else {
                page.events[k - 1].position
            };
            assert_eq!(
                next, expected,
                "a visitor breaking at event #{k} of the page after {after} (filter \
                 {filter:?}): next is the last event it took, or the position read from"
            );
            let (again, _, _) = visit(&*store, next, filter, LIMIT, None).await;
            assert_eq!(
                again.first(),
                Some(&page.events[k]),
                "a visit from the next of a visitor that broke at event #{k} (after \
                 {after}, filter {filter:?}) starts with that event"
            );
        }
    }

    // Decoded items: the positions of read_feed's events, their payloads decoded.
    for (filter, limit) in [
        (FeedFilter::all(), 3),
        (FeedFilter::all().event_type("Other"), 1),
    ] {
        let mut after = Position::START;
        let mut items: Vec<Decoded<Noted>> = Vec::new();
        loop {
            let read = store
                .read_feed(after, &filter, limit)
                .await
                .expect("reading the feed");
            let page = Decoded::<Noted>::read_items(&*store, after, &filter, limit, &[])
                .await
                .unwrap_or_else(|err| panic!("reading decoded items after {after}: {err}"));
            assert!(page.skipped.is_empty(), "nothing asked to be skipped");
            if let Some((identity, err)) = &page.failed {
                panic!("decoding {identity:?} failed: {err}");
            }
            let positions: Vec<Position> = page.items.iter().map(|i| i.position).collect();
            let read_positions: Vec<Position> = read.events.iter().map(|e| e.position).collect();
            assert_eq!(
                positions, read_positions,
                "decoded items after {after} (filter {filter:?}, limit {limit}) have the \
                 positions of read_feed's events"
            );
            assert_eq!(
                page.next, read.next,
                "decoded items and read_feed agree on next"
            );
            let empty = page.items.is_empty();
            items.extend(page.items);
            if empty && page.next == after {
                break;
            }
            after = page.next;
        }
        let expected: Vec<Decoded<Noted>> = read_all(&*store, Position::START, &filter, 100)
            .await
            .into_iter()
            .map(|e| Decoded {
                position: e.position,
                event: Noted {
                    n: e.event.data["n"]
                        .as_u64()
                        .expect("every case event has an n"),
                    actor_id: e.event.actor_id,
                    version: e.event.version,
                },
            })
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(
            items, expected,
            "decoded items of filter {filter:?}, limit {limit}"
        );
    }

    // Decoded items stepping over one event: it is named, the others are read.
    let skip = &whole[1];
    let page = Decoded::<Noted>::read_items(
        &*store,
        Position::START,
        &FeedFilter::all(),
        4,
        &[skip.position],
    )
    .await
    .expect("reading decoded items");
    assert_eq!(
        page.skipped.len(),
        1,
        "the event at the skip position is reported"
    );
    let skipped = page.skipped.into_iter().next().expect("one skipped");
    assert_eq!(
        (
            skipped.position,
            skipped.actor_id.as_str(),
            skipped.version,
            skipped.event_type.as_str(),
            skipped.event_id.as_str()
        ),
        (
            skip.position,
            skip.event.actor_id.as_str(),
            skip.event.version,
            skip.event.event_type.as_str(),
            skip.event.id.as_str()
        ),
        "the skipped event is named"
    );
    let positions: Vec<Position> = page.items.iter().map(|i| i.position).collect();
    let expected: Vec<Position> = whole[..4]
        .iter()
        .filter(|e| e.position != skip.position)
        .map(|e| e.position)
        .collect();
    assert_eq!(
        positions, expected,
        "every event of the page but the skipped one"
    );
}
