//! The actor task: rehydrate, then take commands until passivated, stopped or shut
//! down: one at a time, or those already queued together in one append (`max_batch`).
//!
//! | File | What it holds |
//! |---|---|
//! | `lifecycle` | the actor's state, `spawn`, the mailbox loop, passivation, stop, the end of the task |
//! | `command` | the path of one command: idempotency, decide, record, apply, persist, snapshot, publish, reply |
//! | `batch` | several queued commands decided in order, persisted in one append, answered in order |
//! | `recovery` | start (snapshot plus tail) and the rebuild after a store error or a panic |
//! | `supervision` | panics: caught, counted, rebuilt from the store, stop after too many |
//! | `snapshot` | the snapshot policy, writes off the command path |

mod batch;
mod command;
mod lifecycle;
mod recovery;
mod snapshot;
mod supervision;

pub(crate) use lifecycle::spawn;
