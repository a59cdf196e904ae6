//! The actor task: rehydrate, then take commands one at a time until passivated,
//! stopped or shut down.
//!
//! | File | What it holds |
//! |---|---|
//! | `lifecycle` | the actor's state, `spawn`, the mailbox loop, passivation, stop, the end of the task |
//! | `command` | the path of one command: idempotency, decide, record, apply, persist, snapshot, publish, reply |
//! | `recovery` | start (snapshot plus tail) and the rebuild after a store error or a panic |
//! | `supervision` | panics: caught, counted, rebuilt from the store, stop after too many |
//! | `snapshot` | the snapshot policy, writes off the command path |

mod command;
mod lifecycle;
mod recovery;
mod snapshot;
mod supervision;

pub(crate) use lifecycle::spawn;
