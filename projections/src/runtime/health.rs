//! What the runtime says about its consumers (`/readyz`, `/metrics`), and the signals that
//! wake them and the readers waiting for a view.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{watch, Notify};

use super::Kind;

/// One consumer as this instance sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    pub kind: Kind,
    /// This instance holds the consumer's lease and runs it.
    pub running_here: bool,
    /// A read model's live generation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Where it stands in the feed (empty for consumers that do not read it).
    pub cursor: String,
    /// A read model: events its live generation has applied. A reactor: items it got past
    /// since this instance took its lease.
    pub events_applied: i64,
    /// Rounds failed in a row.
    pub failures: u32,
    /// The last round's error, while rounds fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set once rounds have failed [`super::STALL_AFTER`] times in a row: the consumer waits
    /// (a read model at its failing event; a reactor for its store or outlet to come back).
    pub stalled: Option<String>,
}

/// Signals between the write side, the consumers and readers waiting for a version.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Bumped by the write side after every commit that appended events (this process).
    pub appended: watch::Receiver<u64>,
    /// Notified (all waiters) after every batch a read model commits.
    pub applied: Arc<Notify>,
    /// Bumped after any consumer's progress and on the database's notice of new events, so
    /// that consumers downstream of another (the mail sender after the reactors that queue
    /// mail, the clock after the deadlines) look again at once.
    progress: Arc<watch::Sender<u64>>,
    health: Arc<Mutex<BTreeMap<&'static str, Health>>>,
}

impl Signals {
    pub fn new(appended: watch::Receiver<u64>) -> Self {
        Self {
            appended,
            applied: Arc::new(Notify::new()),
            progress: Arc::new(watch::Sender::new(0)),
            health: Arc::default(),
        }
    }

    /// Each consumer's health as this instance sees it.
    pub fn health(&self) -> BTreeMap<&'static str, Health> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set(&self, name: &'static str, f: impl FnOnce(&mut Health)) {
        let mut all = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(all.entry(name).or_default());
    }

    /// Wakes every consumer; `read_model` also wakes the readers waiting for a version.
    pub(crate) fn progressed(&self, read_model: bool) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
        if read_model {
            self.applied.notify_waiters();
        }
    }

    pub(crate) fn woken(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }
}
