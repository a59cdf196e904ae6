//! The mailbox: what a command becomes on its way to an actor ([`Message`]), and the small
//! bounded channel that carries it, one sender (the registry's cell) and one receiver
//! (the actor task).
//!
//! tokio's `mpsc` costs about 800 bytes per channel (cache-padded fields and a 32-slot
//! block allocated up front); with 100,000 idle actors that alone would exceed the
//! 1 KiB-per-actor budget. This one is a `Mutex<VecDeque>` whose buffer grows only when
//! messages wait, a semaphore of free slots (bounded capacity, waiting senders) and a
//! `Notify` for the receiver: about 150 bytes when idle.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;
use tokio::sync::{Notify, Semaphore, TryAcquireError};

use crate::error::AskError;
use crate::idempotency::AppliedCommand;
use crate::EventSourced;

/// The reply channel of one ask.
pub(crate) type ReplyTx<A> =
    oneshot::Sender<Result<<A as EventSourced>::Reply, AskError<<A as EventSourced>::Error>>>;

/// One command in a mailbox. Boxed in the channel, so an idle mailbox's buffer holds
/// pointers, not commands.
pub(crate) struct Envelope<A: EventSourced> {
    pub(crate) command: A::Command,
    pub(crate) command_id: Option<String>,
    /// `None` for `tell`.
    pub(crate) reply: Option<ReplyTx<A>>,
}

/// A question about a command id ([`ActorRef::applied`](crate::ActorRef::applied)).
pub(crate) struct Inquiry<A: EventSourced> {
    pub(crate) command_id: String,
    pub(crate) reply:
        oneshot::Sender<Result<Option<AppliedCommand>, AskError<<A as EventSourced>::Error>>>,
}

/// What a mailbox carries.
pub(crate) enum Message<A: EventSourced> {
    /// A command from a handle (boxed: an idle mailbox's buffer holds pointers).
    Command(Box<Envelope<A>>),
    /// Whether a command id was applied.
    Applied(Box<Inquiry<A>>),
    /// From the runtime's idle sweep: passivate if still idle.
    Passivate,
}

struct Chan<T> {
    state: Mutex<State<T>>,
    /// Permits are free slots. Closed when the receiver closes or goes away.
    slots: Semaphore,
    /// Wakes the receiver.
    ready: Notify,
}

struct State<T> {
    queue: VecDeque<T>,
    /// The receiver closed (or was dropped): sends fail.
    closed: bool,
    /// The sender was dropped: the receiver ends once the queue is empty.
    sender_gone: bool,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while the lock is held; a poisoned lock still holds a valid queue.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A bounded channel of `capacity` slots.
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            closed: false,
            sender_gone: false,
        }),
        slots: Semaphore::new(capacity.max(1)),
        ready: Notify::new(),
    });
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver { chan },
    )
}

pub(crate) struct Sender<T> {
    chan: Arc<Chan<T>>,
}

pub(crate) struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// Why [`Sender::try_send`] failed; the message comes back.
pub(crate) enum TrySendError<T> {
    Full(T),
    Closed(T),
}

impl<T> Sender<T> {
    /// Waits for a free slot, then queues `message`; gives it back if the receiver
    /// closed.
    pub(crate) async fn send(&self, message: T) -> Result<(), T> {
        match self.chan.slots.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_closed) => return Err(message),
        }
        self.push(message)
    }

    /// Queues `message` if a slot is free now.
    pub(crate) fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        match self.chan.slots.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(message)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(message)),
        }
        self.push(message).map_err(TrySendError::Closed)
    }

    /// How many messages are queued now.
    pub(crate) fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    fn push(&self, message: T) -> Result<(), T> {
        let mut state = self.chan.lock();
        if state.closed {
            return Err(message);
        }
        state.queue.push_back(message);
        drop(state);
        self.chan.ready.notify_one();
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.lock().sender_gone = true;
        self.chan.ready.notify_one();
    }
}

/// Buffers larger than this are released when the queue empties, so a burst does not
/// leave an idle actor holding a big buffer.
const KEEP_CAPACITY: usize = 4;

impl<T> Receiver<T> {
    /// How many messages are queued now (the mailbox depth metric, a batch's capacity).
    pub(crate) fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// The next message; `None` once the sender is gone and the queue is empty.
    ///
    /// Cancel safe: a message is taken only when returned.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            {
                let mut state = self.chan.lock();
                if let Some(message) = state.queue.pop_front() {
                    if state.queue.is_empty() && state.queue.capacity() > KEEP_CAPACITY {
                        state.queue.shrink_to(KEEP_CAPACITY);
                    }
                    drop(state);
                    self.chan.slots.add_permits(1);
                    return Some(message);
                }
                if state.sender_gone {
                    return None;
                }
            }
            // A `notify_one` between the check above and this await is not lost: Notify
            // keeps one permit for the next `notified()`.
            self.chan.ready.notified().await;
        }
    }

    /// The next message if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let message = self.chan.lock().queue.pop_front()?;
        self.chan.slots.add_permits(1);
        Some(message)
    }

    /// The next message if one is queued and `wanted` accepts it; otherwise it stays
    /// at the front.
    pub(crate) fn try_recv_if(&mut self, wanted: impl FnOnce(&T) -> bool) -> Option<T> {
        let message = {
            let mut state = self.chan.lock();
            if !wanted(state.queue.front()?) {
                return None;
            }
            state.queue.pop_front()?
        };
        self.chan.slots.add_permits(1);
        Some(message)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chan.lock().queue.is_empty()
    }

    /// Refuses further sends; queued messages stay for [`try_recv`](Self::try_recv).
    pub(crate) fn close(&mut self) {
        self.chan.lock().closed = true;
        self.chan.slots.close();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // Drop what is left (their reply channels close, so waiting callers learn it).
        let left = std::mem::take(&mut self.chan.lock().queue);
        drop(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_arrive_in_order_and_capacity_bounds_the_queue() {
        let (tx, mut rx) = channel(2);
        tx.send(1).await.unwrap();
        tx.try_send(2).ok().unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.recv().await, Some(1));
        tx.try_send(3).ok().unwrap();
        assert_eq!(rx.try_recv(), Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert!(rx.is_empty());
    }

    #[tokio::test]
    async fn try_recv_if_takes_the_front_only_when_wanted() {
        let (tx, mut rx) = channel(2);
        assert_eq!(rx.try_recv_if(|_: &i32| true), None, "empty");
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(rx.try_recv_if(|n| *n == 2), None, "the front is 1");
        assert_eq!(rx.try_recv_if(|n| *n == 1), Some(1));
        // Its slot is free again.
        tx.try_send(3).ok().unwrap();
        assert_eq!(rx.try_recv_if(|_| true), Some(2));
        assert_eq!(rx.recv().await, Some(3));
    }

    #[tokio::test]
    async fn a_waiting_sender_gets_its_message_back_when_the_receiver_closes() {
        let (tx, mut rx) = channel(1);
        tx.send("queued").await.unwrap();
        let waiting = tokio::spawn(async move { tx.send("late").await });
        tokio::task::yield_now().await;
        rx.close();
        assert_eq!(waiting.await.unwrap(), Err("late"));
        assert_eq!(
            rx.try_recv(),
            Some("queued"),
            "queued messages can be drained"
        );
    }

    #[tokio::test]
    async fn the_receiver_ends_when_the_sender_is_gone_and_the_queue_drained() {
        let (tx, mut rx) = channel(4);
        tx.send(7).await.unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(7));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn sends_to_a_dropped_receiver_fail() {
        let (tx, rx) = channel(4);
        drop(rx);
        assert_eq!(tx.send(1).await, Err(1));
        assert!(matches!(tx.try_send(2), Err(TrySendError::Closed(2))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_senders_racing_one_receiver_lose_nothing() {
        let (tx, mut rx) = channel(8);
        let tx = Arc::new(tx);
        let senders: Vec<_> = (0..8)
            .map(|s| {
                let tx = Arc::clone(&tx);
                tokio::spawn(async move {
                    for i in 0..1_000 {
                        tx.send(s * 1_000 + i).await.unwrap();
                    }
                })
            })
            .collect();
        let mut seen = vec![false; 8_000];
        for _ in 0..8_000 {
            let n = rx.recv().await.unwrap();
            assert!(!seen[n], "{n} delivered twice");
            seen[n] = true;
        }
        for s in senders {
            s.await.unwrap();
        }
        assert!(rx.is_empty());
    }
}
