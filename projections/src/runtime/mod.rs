//! One runtime for everything that reacts to the log: the read models, the e-mail outbox,
//! the eCoPR documents, account creation, the case's clock. It owns, once, what they all
//! need:
//!
//! - **the lease**: each consumer runs in one instance at a time ([`lease`]); the others
//!   stand by and take over within a second of its connection's end;
//! - **the wake-up**: the write side's in-process signal, PostgreSQL's `NOTIFY
//!   prconfirm_events`, any other consumer's progress, and a look every second regardless;
//! - **the round**: each consumer's own step ([`Consumer::round`]), run on the consumer's own
//!   connection (the one holding its lease), where its effect and its checkpoint move in one
//!   transaction; on SQLite a read model's round (one write transaction, nothing slow in
//!   it) takes the file's write turn first ([`prconfirm_migrations::gate`]), so that it
//!   queues with the appends instead of meeting them in SQLite's busy handler;
//! - **failure**: a round that fails is retried with back-off (100 ms doubling to 30 s);
//!   after [`STALL_AFTER`] failures in a row the consumer is *stalled*: recorded in its
//!   checkpoint, `/readyz` says degraded, `prconfirm_consumer_stalled` is 1. A read model's
//!   round fails at an event it cannot apply, and it waits there: it never skips. A
//!   reactor's round fails only for an outage; an item that fails is parked instead
//!   ([`reactor`], [`parked`]) and the items behind it go on;
//! - **metrics**: events and items got past, failed rounds, stalls and parked items, per
//!   consumer, from a closed set of names.
//!
//! Each consumer runs in a task of its own, so a slow one (a PDF, a password hash, a mail
//! relay) never holds up another.

mod consumer;
pub mod health;
pub mod lease;
pub mod parked;
pub mod reactor;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prconfirm_migrations::{Database, Owned};
use sqlx::postgres::PgListener;

pub use consumer::{Consumer, Kind, Position, Round, RoundError, IDLE};
pub use health::{Health, Signals};
pub use reactor::{cores, Item, ItemError, Reactor, ReactorConsumer};

/// The channel the event log's trigger notifies on every commit that appended events.
pub const CHANNEL: &str = "prconfirm_events";

/// Rounds failed in a row before a consumer is reported stalled.
pub const STALL_AFTER: u32 = 5;
/// Longest wait between retries of a failing round.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the lease holder refreshes its parked-item gauges.
const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// The consumers of one instance, ready to run.
pub struct Runtime {
    db: Database,
    signals: Signals,
    consumers: Vec<Arc<dyn Consumer>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.consumers.iter().map(|c| c.name()).collect();
        f.debug_struct("Runtime")
            .field("consumers", &names)
            .finish()
    }
}

impl Runtime {
    pub fn new(db: Database, signals: Signals) -> Self {
        Self {
            db,
            signals,
            consumers: Vec::new(),
        }
    }

    /// Adds a consumer.
    #[must_use]
    pub fn with(mut self, consumer: impl Consumer + 'static) -> Self {
        self.consumers.push(Arc::new(consumer));
        self
    }

    /// The consumers' names, in the order added.
    pub fn names(&self) -> Vec<&'static str> {
        self.consumers.iter().map(|c| c.name()).collect()
    }

    /// Starts every consumer in a task of its own (and, on PostgreSQL, one listening for the
    /// database's notices of new events). Abort the tasks to stop them: a round cut short
    /// keeps nothing.
    pub fn spawn(self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::with_capacity(self.consumers.len() + 1);
        if let Database::Postgres(pool) = &self.db {
            tasks.push(tokio::spawn(listen(pool.clone(), self.signals.clone())));
        }
        for consumer in self.consumers {
            let name = consumer.name();
            let kind = consumer.kind();
            self.signals.set(name, |h| h.kind = kind);
            tasks.push(tokio::spawn(drive(
                self.db.clone(),
                consumer,
                self.signals.clone(),
            )));
        }
        tasks
    }
}

/// Turns PostgreSQL's notices of new events (from any instance) into wake-ups.
async fn listen(pool: sqlx::PgPool, signals: Signals) {
    loop {
        let outcome: Result<(), sqlx::Error> = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            loop {
                listener.recv().await?;
                signals.progressed(false);
            }
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "lost the database's notices; listening again");
        }
        tokio::time::sleep(IDLE).await;
    }
}

/// Runs one consumer for as long as the task lives, reconnecting after losing the database.
async fn drive(db: Database, consumer: Arc<dyn Consumer>, signals: Signals) {
    let name = consumer.name();
    loop {
        if let Err(e) = attend(&db, consumer.as_ref(), &signals).await {
            tracing::warn!(consumer = name, error = %e, "consumer lost its connection; retrying");
        }
        consumer.reset();
        signals.set(name, |h| h.running_here = false);
        tokio::time::sleep(IDLE).await;
    }
}

/// Back-off of a failing consumer.
#[derive(Debug, Default)]
struct Retry {
    failures: u32,
    not_before: Option<Instant>,
}

impl Retry {
    fn ready(&self) -> bool {
        self.not_before.is_none_or(|t| Instant::now() >= t)
    }

    fn wait(&self) -> Duration {
        self.not_before
            .map_or(IDLE, |t| t.saturating_duration_since(Instant::now()))
    }

    fn fail(&mut self) {
        self.failures = self.failures.saturating_add(1);
        let backoff = Duration::from_millis(100)
            .saturating_mul(1 << self.failures.min(10))
            .min(MAX_BACKOFF);
        self.not_before = Some(Instant::now() + backoff);
    }
}

/// One connection's life: start the consumer, take its lease when free, run its rounds
/// whenever woken. Ends (with the connection's error) when the database stops answering.
async fn attend(
    db: &Database,
    consumer: &dyn Consumer,
    signals: &Signals,
) -> Result<(), sqlx::Error> {
    let name = consumer.name();
    let mut owned = db.dedicated().await?;
    let mut woken = signals.woken();
    let mut appended = signals.appended.clone();
    let mut started = false;
    let mut held = false;
    let mut retry = Retry::default();
    let mut gauges = Instant::now();
    loop {
        if !started && retry.ready() {
            match consumer.start(&mut owned.conn()).await {
                Ok(()) => {
                    started = true;
                    retry = Retry::default();
                }
                Err(e) => {
                    retry.fail();
                    tracing::warn!(consumer = name, error = %e, "cannot start; retrying");
                }
            }
        }
        if started && !held {
            held = lease::try_take(&mut owned.conn(), name).await?;
            if held {
                tracing::info!(consumer = name, "running this consumer");
            }
            signals.set(name, |h| h.running_here = held);
        }
        if held && retry.ready() {
            run_rounds(db, consumer, &mut owned, signals, &mut retry).await;
            if gauges.elapsed() >= GAUGES_EVERY {
                gauges = Instant::now();
                refresh_gauges(db, name).await;
            }
        }
        owned.ping().await?;
        if !held {
            // Standing by: ask for the lease again in a while, whatever happens meanwhile.
            tokio::time::sleep(retry.wait().min(IDLE)).await;
            continue;
        }
        let wait = retry.wait().min(consumer.interval());
        tokio::select! {
            _ = woken.changed() => {}
            _ = appended.changed() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Rounds until the consumer has nothing more to do at once, or a round fails.
async fn run_rounds(
    db: &Database,
    consumer: &dyn Consumer,
    owned: &mut Owned,
    signals: &Signals,
    retry: &mut Retry,
) {
    let name = consumer.name();
    let read_model = consumer.kind() == Kind::ReadModel;
    loop {
        // A reactor's round prepares its items (a password hash, a PDF) before it writes, so
        // it may not hold the turn; it writes rarely and meets the busy handler as before.
        let turn = if read_model {
            db.write_turn().await
        } else {
            None
        };
        let result = consumer.round(&mut owned.conn(), retry.failures).await;
        drop(turn);
        match result {
            Ok(round) => {
                if retry.failures >= STALL_AFTER {
                    tracing::info!(consumer = name, "consumer moving again");
                    if let Err(e) = consumer.mark_stalled(&mut owned.conn(), None).await {
                        tracing::warn!(consumer = name, error = %e, "cannot clear the stall");
                    }
                }
                *retry = Retry::default();
                signals.set(name, |h| {
                    h.failures = 0;
                    h.error = None;
                    h.stalled = None;
                    if let Some(p) = round.position {
                        h.cursor = p.cursor.to_string();
                        h.generation = p.generation;
                    }
                    match round.position.and_then(|p| p.events_applied) {
                        Some(n) => h.events_applied = n,
                        None => {
                            h.events_applied = h
                                .events_applied
                                .saturating_add(i64::try_from(round.passed).unwrap_or(0));
                        }
                    }
                });
                metrics::gauge!("prconfirm_consumer_stalled", "consumer" => name).set(0.0);
                if round.passed > 0 {
                    metrics::counter!("prconfirm_consumer_events_total", "consumer" => name)
                        .increment(round.passed as u64);
                    signals.progressed(read_model);
                }
                if !round.more {
                    return;
                }
            }
            Err(e) => {
                retry.fail();
                let message = e.to_string();
                metrics::counter!("prconfirm_consumer_failures_total", "consumer" => name)
                    .increment(1);
                tracing::error!(consumer = name, attempt = retry.failures, error = %message,
                    "consumer round failed; retrying");
                let stalled = retry.failures >= STALL_AFTER;
                signals.set(name, |h| {
                    h.failures = retry.failures;
                    h.error = Some(message.clone());
                    if stalled {
                        h.stalled = Some(message.clone());
                    }
                });
                if stalled {
                    metrics::gauge!("prconfirm_consumer_stalled", "consumer" => name).set(1.0);
                    if let Err(e) = consumer
                        .mark_stalled(&mut owned.conn(), Some(&message))
                        .await
                    {
                        tracing::warn!(consumer = name, error = %e, "cannot record the stall");
                    }
                }
                return;
            }
        }
    }
}

/// Sets `prconfirm_consumer_parked{consumer}` and `prconfirm_consumer_parked_alerting`.
async fn refresh_gauges(db: &Database, name: &'static str) {
    match parked::counts(db).await {
        Ok(counts) => {
            let (all, alerting) = counts.get(name).copied().unwrap_or((0, 0));
            metrics::gauge!("prconfirm_consumer_parked", "consumer" => name).set(all as f64);
            metrics::gauge!("prconfirm_consumer_parked_alerting", "consumer" => name)
                .set(alerting as f64);
        }
        Err(e) => tracing::debug!(consumer = name, error = %e, "cannot count parked items"),
    }
}
