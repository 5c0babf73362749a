//! Reactors: consumers of the feed that act on events one by one (an e-mail, a document, an
//! account) and record what they did in one transaction with their checkpoint.
//!
//! For each event after its checkpoint a [`Reactor`] is asked whether it [`wants`] it; if so
//! it [`prepares`] the work outside any transaction (render a PDF, hash a password, append a
//! command's events: whatever can be done again without harm), then the runtime opens one
//! transaction, moves the checkpoint by compare-and-set, and has the reactor [`record`] each
//! item's work inside it, each under a savepoint of its own. An item whose preparation or
//! record fails is **parked** ([`super::parked`]) in the same transaction and the checkpoint
//! goes on past it; later events of the same case park behind it, so that each case's events
//! are still handled in order. Parked items are tried again as they fall due, in their case's
//! order. Only an outage (the database, the blob store or the mail relay out of reach) stops
//! the round without parking anything: every item would fail alike, and the runtime backs off
//! and reports the stall instead.
//!
//! A round that passes only events no reactor wants writes nothing: the checkpoint moves in
//! memory and is written with the next item recorded, or after [`LAZY_CHECKPOINT`]. A crash
//! reads those events again, to the same effect (none).
//!
//! [`wants`]: Reactor::wants
//! [`prepares`]: Reactor::prepare
//! [`record`]: Reactor::record

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use futures::{stream, StreamExt, TryStreamExt};
use prconfirm_domain::case::CaseEvent;
use prconfirm_migrations::on_conn;

use super::parked::{self, Parked, Why};
use super::{Consumer, Kind, Position, Round, RoundError};
use prconfirm_privacy::PersonKeys;

use crate::feed::{read_event_on, read_raw_on, FeedCursor, RawEvent};
use crate::models::{decode_one, Decoded};
use crate::store::Conn;

/// How long a checkpoint moved past unwanted events only may stay unwritten.
pub const LAZY_CHECKPOINT: Duration = Duration::from_secs(1);

/// The machine's cores: the [`Reactor::concurrency`] of reactors whose preparing is CPU work.
/// Asked once: `available_parallelism` reads the cgroup's files on every call, and reactors
/// ask every round (7-9 % of the server's CPU under write load before it was kept).
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES
        .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

/// Parked cases tried again per round.
const RETRIES_PER_ROUND: i64 = 20;

/// One event, decoded, as a reactor gets it.
pub type Item = Decoded;

/// Why an item could not be handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// The database, the blob store or an outlet is out of reach: every item would fail
    /// alike. The round stops; nothing is parked; the runtime backs off.
    #[error("outage: {0}")]
    Outage(String),
    /// This item failed and may succeed later: parked, tried again with back-off.
    #[error("{0}")]
    Failed(String),
    /// This item can never succeed as it is: parked until an operator retries it.
    #[error("refused: {0}")]
    Refused(String),
}

impl ItemError {
    /// A storage error: an outage if the database is out of reach, else this item's failure.
    pub fn storage(e: &sqlx::Error) -> Self {
        if prconfirm_migrations::is_outage(e) {
            Self::Outage(e.to_string())
        } else {
            Self::Failed(e.to_string())
        }
    }

    fn why(&self) -> Why {
        match self {
            Self::Outage(e) | Self::Failed(e) => Why::Failed(e.clone()),
            Self::Refused(e) => Why::Refused(e.clone()),
        }
    }
}

impl From<sqlx::Error> for ItemError {
    fn from(e: sqlx::Error) -> Self {
        Self::storage(&e)
    }
}

/// A consumer that acts on events one by one (see the module's documentation).
#[async_trait]
pub trait Reactor: Send + Sync + 'static {
    /// What [`Reactor::prepare`] made for [`Reactor::record`] to keep.
    type Work: Send + 'static;

    /// The reactor's name: its checkpoint, its lease, its parked items, its metrics.
    fn name(&self) -> &'static str;

    /// Whether the event calls for this reactor at all (cheap; no I/O).
    fn wants(&self, event: &CaseEvent) -> bool;

    /// The work the item calls for, done outside any transaction; `None` if there is nothing
    /// to record (already done, or no longer called for). May run more than once for an
    /// item (a crash before the record, a retry), so whatever it does must bear repeating.
    ///
    /// # Errors
    /// [`ItemError`]: parks the item, or stops the round for an outage.
    async fn prepare(&self, item: &Item) -> Result<Option<Self::Work>, ItemError>;

    /// How many cases' items [`Reactor::prepare`] may work on at once (each case's items
    /// still one after another, in order). One unless preparing is slow work that spreads
    /// over cores (hashing, rendering).
    fn concurrency(&self) -> usize {
        1
    }

    /// The most items one round prepares before it records them: a slow reactor records
    /// (and so hands on: an e-mail, a document) a few at a time rather than all of a burst
    /// at its end.
    fn items_per_round(&self) -> usize {
        usize::MAX
    }

    /// Keeps `work` inside the runtime's transaction, which also moves the checkpoint.
    ///
    /// # Errors
    /// [`ItemError`]: this item's record is rolled back and the item parked, or, for an
    /// outage, the whole round is rolled back.
    async fn record(
        &self,
        conn: &mut Conn<'_>,
        item: &Item,
        work: Self::Work,
    ) -> Result<(), ItemError>;
}

/// Where a reactor stands: the checkpoint as stored, and how far past it the round went over
/// events it did not want.
#[derive(Debug, Default)]
struct Cursors {
    stored: Option<FeedCursor>,
    ahead: Option<(FeedCursor, Instant)>,
}

/// Runs a [`Reactor`] as a consumer of the runtime.
#[derive(Debug)]
pub struct ReactorConsumer<R> {
    reactor: R,
    batch: u32,
    keys: PersonKeys,
    cursors: Mutex<Cursors>,
}

impl<R: Reactor> ReactorConsumer<R> {
    /// `reactor`, reading up to `batch` events a round, personal fields opened with `keys`.
    pub fn new(reactor: R, batch: u32, keys: PersonKeys) -> Self {
        Self {
            reactor,
            batch: batch.max(1),
            keys,
            cursors: Mutex::default(),
        }
    }

    pub fn reactor(&self) -> &R {
        &self.reactor
    }

    fn cursors(&self) -> std::sync::MutexGuard<'_, Cursors> {
        self.cursors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one round on `conn` outside the runtime (tests, tools): as [`Consumer::round`].
    ///
    /// # Errors
    /// As [`Consumer::round`].
    pub async fn run_once(&self, conn: &mut Conn<'_>) -> Result<Round, RoundError> {
        self.round(conn, 0).await
    }

    async fn record_batch(
        &self,
        conn: &mut Conn<'_>,
        (from, to): (FeedCursor, FeedCursor),
        works: Vec<(Item, R::Work)>,
        mut parks: Vec<Park>,
    ) -> Result<bool, RoundError> {
        conn.execute(conn.begin_write()).await?;
        let result = async {
            if !checkpoint::advance(conn, self.reactor.name(), from, to).await? {
                return Ok(false);
            }
            let mut failed: HashSet<String> = HashSet::new();
            for (item, work) in works {
                if let Some(head) = failed.get(&item.case_id).cloned() {
                    let key = key(&item.case_id, item.sequence);
                    parks.push((key, (item.case_id, item.sequence), Why::Behind(head)));
                    continue;
                }
                conn.execute("SAVEPOINT item").await?;
                match self.reactor.record(conn, &item, work).await {
                    Ok(()) => conn.execute("RELEASE SAVEPOINT item").await?,
                    Err(ItemError::Outage(e)) => return Err(RoundError::Failed(e)),
                    Err(e) => {
                        conn.execute("ROLLBACK TO SAVEPOINT item").await?;
                        conn.execute("RELEASE SAVEPOINT item").await?;
                        let key = key(&item.case_id, item.sequence);
                        tracing::warn!(reactor = self.reactor.name(), item = %key, error = %e,
                            "item parked");
                        failed.insert(item.case_id.clone());
                        parks.push((key, (item.case_id, item.sequence), e.why()));
                    }
                }
            }
            let now = Utc::now();
            for (item, (case_id, sequence), why) in &parks {
                let place = (case_id.as_str(), *sequence);
                parked::park(conn, self.reactor.name(), item, place, why, 0, now).await?;
            }
            Ok(true)
        }
        .await;
        finish(conn, result).await
    }

    /// Tries again the parked items that fell due, each case's in order; answers how many
    /// it got past.
    async fn retry_due(&self, conn: &mut Conn<'_>) -> Result<usize, RoundError> {
        let name = self.reactor.name();
        let mut passed = 0;
        for case_id in parked::due_cases(conn, name, Utc::now(), RETRIES_PER_ROUND).await? {
            for item in parked::of_case(conn, name, &case_id).await? {
                if item.refused || !self.retry_one(conn, &item).await? {
                    break;
                }
                passed += 1;
            }
        }
        Ok(passed)
    }

    /// One parked item again: answers whether it went through (else it stays parked, with
    /// one more failure).
    async fn retry_one(&self, conn: &mut Conn<'_>, parked: &Parked) -> Result<bool, RoundError> {
        let name = self.reactor.name();
        let raw = read_event_on(conn, &self.keys, &parked.case_id, parked.sequence).await?;
        let item = match raw.as_ref().map(decode_one) {
            Some(Some(Ok(item))) => item,
            Some(Some(Err(e))) => {
                let why = Why::Refused(format!("cannot be read: {e}"));
                parked::failed_again(conn, parked, &why, Utc::now()).await?;
                return Ok(false);
            }
            // Not a case's event, or no such event: nothing to do for it.
            Some(None) | None => {
                parked::remove(conn, name, &parked.item).await?;
                return Ok(true);
            }
        };
        let work = if self.reactor.wants(&item.event) {
            match self.reactor.prepare(&item).await {
                Ok(work) => work,
                Err(ItemError::Outage(e)) => return Err(RoundError::Failed(e)),
                Err(e) => {
                    parked::failed_again(conn, parked, &e.why(), Utc::now()).await?;
                    return Ok(false);
                }
            }
        } else {
            None
        };
        conn.execute(conn.begin_write()).await?;
        let result = async {
            if let Some(work) = work {
                match self.reactor.record(conn, &item, work).await {
                    Ok(()) => {}
                    Err(ItemError::Outage(e)) => return Err(RoundError::Failed(e)),
                    Err(e) => return Ok(Some(e)),
                }
            }
            parked::remove(conn, name, &parked.item).await?;
            Ok(None)
        }
        .await;
        match result {
            Ok(None) => {
                conn.execute("COMMIT").await?;
                tracing::info!(reactor = name, item = %parked.item, "parked item went through");
                Ok(true)
            }
            Ok(Some(e)) => {
                conn.execute("ROLLBACK").await?;
                parked::failed_again(conn, parked, &e.why(), Utc::now()).await?;
                Ok(false)
            }
            Err(e) => {
                rollback(conn).await;
                Err(e)
            }
        }
    }
}

/// A feed item's key among the parked items: `<case>#<sequence>`.
pub fn key(case_id: &str, sequence: i64) -> String {
    format!("{case_id}#{sequence}")
}

async fn rollback(conn: &mut Conn<'_>) {
    if let Err(e) = conn.execute("ROLLBACK").await {
        tracing::warn!(error = %e, "rollback failed");
    }
}

async fn finish<T>(conn: &mut Conn<'_>, result: Result<T, RoundError>) -> Result<T, RoundError> {
    match result {
        Ok(v) => {
            conn.execute("COMMIT").await?;
            Ok(v)
        }
        Err(e) => {
            rollback(conn).await;
            Err(e)
        }
    }
}

#[async_trait]
impl<R: Reactor> Consumer for ReactorConsumer<R> {
    fn name(&self) -> &'static str {
        self.reactor.name()
    }

    fn kind(&self) -> Kind {
        Kind::Reactor
    }

    async fn round(&self, conn: &mut Conn<'_>, _failures: u32) -> Result<Round, RoundError> {
        let name = self.reactor.name();
        let known = self.cursors().stored;
        let stored = match known {
            Some(c) => c,
            None => {
                let c = checkpoint::read(conn, name).await?;
                self.cursors().stored = Some(c);
                c
            }
        };
        let ahead = self.cursors().ahead;
        let from = ahead.map_or(stored, |(c, _)| c);
        let raw = read_raw_on(conn, &self.keys, from, self.batch).await?;
        let mut full = raw.len() >= self.batch as usize;
        let mut parked_cases = if raw.is_empty() {
            HashSet::new()
        } else {
            parked::cases(conn, name).await?
        };
        let mut candidates = Vec::new();
        let mut parks = Vec::new();
        let mut reached = from;
        let mut passed = 0;
        for event in &raw {
            if let Some(decoded) = decode_one(event) {
                self.sort(
                    decoded,
                    event,
                    &mut parked_cases,
                    &mut candidates,
                    &mut parks,
                );
            }
            reached = event.cursor;
            passed += 1;
            if candidates.len() >= self.reactor.items_per_round() {
                full = true;
                break;
            }
        }
        let (works, prepared_parks) = self
            .prepare_all(candidates)
            .await
            .map_err(RoundError::Failed)?;
        parks.extend(prepared_parks);
        if reached != from {
            let lazy = works.is_empty() && parks.is_empty();
            let since = ahead.map_or_else(Instant::now, |(_, t)| t);
            if lazy && since.elapsed() < LAZY_CHECKPOINT {
                self.cursors().ahead = Some((reached, since));
            } else if self
                .record_batch(conn, (stored, reached), works, parks)
                .await?
            {
                *self.cursors() = Cursors {
                    stored: Some(reached),
                    ahead: None,
                };
            } else {
                // Another runner moved the checkpoint: start again from where it is.
                *self.cursors() = Cursors::default();
                return Ok(Round {
                    passed: 0,
                    more: true,
                    position: None,
                });
            }
        } else if let Some((at, since)) = ahead {
            if since.elapsed() >= LAZY_CHECKPOINT
                && self
                    .record_batch(conn, (stored, at), Vec::new(), Vec::new())
                    .await?
            {
                *self.cursors() = Cursors {
                    stored: Some(at),
                    ahead: None,
                };
            }
        }
        let retried = self.retry_due(conn).await?;
        Ok(Round {
            passed: passed + retried,
            more: full,
            position: Some(Position {
                cursor: reached,
                generation: None,
                events_applied: None,
            }),
        })
    }

    async fn mark_stalled(
        &self,
        conn: &mut Conn<'_>,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        checkpoint::mark_stalled(conn, self.reactor.name(), error).await
    }

    fn reset(&self) {
        *self.cursors() = Cursors::default();
    }
}

/// An item on its way to be parked: its key, its case and sequence, why.
type Park = (String, (String, i64), Why);

/// What preparing one candidate came to, at its place in the round: work to record (or
/// nothing to do), or an item to park.
type Prepared<W> = (usize, Result<Option<(Item, W)>, Park>);

impl<R: Reactor> ReactorConsumer<R> {
    /// Sorts one decoded event of the round: skipped, parked (unreadable, or behind its
    /// parked case), or a candidate for [`Reactor::prepare`].
    fn sort(
        &self,
        decoded: Result<Item, crate::models::ApplyError>,
        event: &RawEvent,
        parked_cases: &mut HashSet<String>,
        candidates: &mut Vec<Item>,
        parks: &mut Vec<Park>,
    ) {
        let item = match decoded {
            Ok(item) => item,
            Err(e) => {
                let key = key(&event.aggregate_id, event.sequence);
                parks.push((
                    key,
                    (event.aggregate_id.clone(), event.sequence),
                    Why::Refused(format!("cannot be read: {e}")),
                ));
                parked_cases.insert(event.aggregate_id.clone());
                return;
            }
        };
        if !self.reactor.wants(&item.event) {
            return;
        }
        if parked_cases.contains(&item.case_id) {
            let key = key(&item.case_id, item.sequence);
            let place = (item.case_id.clone(), item.sequence);
            parks.push((key, place, Why::Behind(format!("case {}", item.case_id))));
            return;
        }
        candidates.push(item);
    }

    /// Prepares the round's candidates, up to [`Reactor::concurrency`] cases at once and each
    /// case's items in order; answers the work to record and the items to park, in feed
    /// order. `Err` for an outage: nothing of the round is recorded (preparing bears
    /// repeating).
    async fn prepare_all(
        &self,
        candidates: Vec<Item>,
    ) -> Result<(Vec<(Item, R::Work)>, Vec<Park>), String> {
        let mut cases: Vec<Vec<(usize, Item)>> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for (at, item) in candidates.into_iter().enumerate() {
            let slot = *index.entry(item.case_id.clone()).or_insert_with(|| {
                cases.push(Vec::new());
                cases.len() - 1
            });
            cases[slot].push((at, item));
        }
        let outcomes: Vec<Vec<Prepared<R::Work>>> =
            stream::iter(cases.into_iter().map(|items| self.prepare_case(items)))
                .buffer_unordered(self.reactor.concurrency().max(1))
                .try_collect()
                .await?;
        let mut outcomes: Vec<_> = outcomes.into_iter().flatten().collect();
        outcomes.sort_unstable_by_key(|(at, _)| *at);
        let mut works = Vec::new();
        let mut parks = Vec::new();
        for (_, outcome) in outcomes {
            match outcome {
                Ok(Some(work)) => works.push(work),
                Ok(None) => {}
                Err(park) => parks.push(park),
            }
        }
        Ok((works, parks))
    }

    /// One case's candidates, in order: once one fails, the rest park behind it.
    async fn prepare_case(
        &self,
        items: Vec<(usize, Item)>,
    ) -> Result<Vec<Prepared<R::Work>>, String> {
        let mut out = Vec::with_capacity(items.len());
        let mut failed = false;
        for (at, item) in items {
            let key = key(&item.case_id, item.sequence);
            let place = (item.case_id.clone(), item.sequence);
            if failed {
                let why = Why::Behind(format!("case {}", item.case_id));
                out.push((at, Err((key, place, why))));
                continue;
            }
            match self.reactor.prepare(&item).await {
                Ok(work) => out.push((at, Ok(work.map(|w| (item, w))))),
                Err(ItemError::Outage(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(reactor = self.reactor.name(), item = %key, error = %e,
                        "item parked");
                    failed = true;
                    out.push((at, Err((key, place, e.why()))));
                }
            }
        }
        Ok(out)
    }
}

/// Reactors' checkpoints (`reactor_checkpoints`).
pub mod checkpoint {
    use super::*;

    fn as_i64(tx: u64) -> i64 {
        i64::try_from(tx).unwrap_or(i64::MAX)
    }

    /// The reactor's checkpoint, created at the start of the feed if it never ran.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn read(conn: &mut Conn<'_>, name: &str) -> Result<FeedCursor, sqlx::Error> {
        let read = "SELECT tx, position FROM reactor_checkpoints WHERE name = $1";
        let found: Option<(i64, i64)> = on_conn!(conn, |c| sqlx::query_as(read)
            .bind(name)
            .fetch_optional(&mut **c)
            .await)?;
        let (tx, position) = match found {
            Some(row) => row,
            None => {
                let create = "INSERT INTO reactor_checkpoints (name, tx, position) \
                              VALUES ($1, 0, 0) ON CONFLICT (name) DO NOTHING";
                on_conn!(conn, |c| sqlx::query(create)
                    .bind(name)
                    .execute(&mut **c)
                    .await
                    .map(drop))?;
                (0, 0)
            }
        };
        Ok(FeedCursor {
            tx: tx.unsigned_abs(),
            position,
        })
    }

    /// Moves the checkpoint from `from` to `to`; `false` (and nothing written) if it is no
    /// longer at `from`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn advance(
        conn: &mut Conn<'_>,
        name: &str,
        from: FeedCursor,
        to: FeedCursor,
    ) -> Result<bool, sqlx::Error> {
        let sql = "UPDATE reactor_checkpoints SET tx = $2, position = $3, \
                   stalled_since = NULL, stalled_error = NULL \
                   WHERE name = $1 AND tx = $4 AND position = $5";
        let moved = on_conn!(conn, |c| sqlx::query(sql)
            .bind(name)
            .bind(as_i64(to.tx))
            .bind(to.position)
            .bind(as_i64(from.tx))
            .bind(from.position)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(moved == 1)
    }

    /// Records (or, with `None`, clears) that the consumer `name` is stalled, and why.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn mark_stalled(
        conn: &mut Conn<'_>,
        name: &str,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let sql = "INSERT INTO reactor_checkpoints (name, tx, position, stalled_since, \
                   stalled_error) VALUES ($1, 0, 0, $2, $3) ON CONFLICT (name) DO UPDATE SET \
                   stalled_since = excluded.stalled_since, stalled_error = excluded.stalled_error";
        let since = error.map(|_| parked::millis(Utc::now()));
        on_conn!(conn, |c| sqlx::query(sql)
            .bind(name)
            .bind(since)
            .bind(error)
            .execute(&mut **c)
            .await
            .map(drop))
    }
}
