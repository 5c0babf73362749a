//! The read models' side of the runtime: a projection's generations of tables, its batches
//! (feed events applied and the checkpoint advanced in one transaction), its online rebuild
//! and its status. The loop that runs the batches, with the lease, the wake-up, back-off and
//! stalls, is the consumer runtime's ([`crate::runtime`]); [`ReadModelConsumer`] is what it
//! runs for each projection.
//!
//! - **Never skips.** A failing batch is retried one event at a time with back-off; an event
//!   that keeps failing stops the projection there, recorded in its checkpoint row
//!   (`stalled_at`, `stalled_error`), in `/readyz` and in `/metrics`, until it succeeds.
//! - **Rebuild online** ([`rebuild`]): a new generation of the tables is filled from position
//!   zero while the live one serves, then, under the registry row's lock, caught up to the
//!   last event and switched to by repointing the views, in one transaction.
//! - **A new shape starts again.** A projection whose code writes a shape other than the one
//!   registered ([`ReadModel::shape`]) is given a fresh generation at position zero when the
//!   runtime first takes it; the live runner then fills it from the first event.

mod batch;
mod consumer;
mod generation;
mod rebuild;
mod status;
mod tx;

pub use batch::{run_batch, Batch, Target};
pub use consumer::ReadModelConsumer;
pub use generation::ensure;
pub use rebuild::{rebuild, RebuildProgress, RebuildSettings, Rebuilt};
pub use status::{feed_length, status, Status};

pub use crate::runtime::lease::rebuild_lock_key;
pub use tx::RunError;
