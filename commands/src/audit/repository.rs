//! The hash-chain decorator around [`EventRepository`]: every event is stamped with its hash
//! and its predecessor's before it is written, so the link lands in the event's own row, in
//! the transaction that appends it.

use std::collections::HashMap;
use std::sync::Mutex;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use prconfirm_migrations::Database;
use serde_json::Value;

use super::canonical::CanonicalError;
use super::chain::{event_hash, stamp, stored_link, ChainHash, EventFields, LinkError, StoredLink};
use crate::repository::EventRepository;

/// How many cases' last links the decorator remembers between a load and the append that
/// follows it. Past this the memory is cleared: it only saves a query, never decides anything.
const RECENT_LINKS: usize = 4096;

/// Why an event could not be chained. Nothing is written then.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The case's previous event is not in the log (it was there when the case was loaded).
    #[error("case {aggregate_id}: event {sequence} has no predecessor in the log")]
    MissingPredecessor {
        aggregate_id: String,
        sequence: usize,
    },
    /// The previous event carries no usable hash, so the chain cannot continue from it.
    #[error("case {aggregate_id}: event {sequence} carries no usable link: {source}")]
    UnlinkedPredecessor {
        aggregate_id: String,
        sequence: usize,
        source: LinkError,
    },
    /// The event has no canonical form (a float, or metadata that is not an object).
    #[error("case {aggregate_id}: event {sequence} cannot be hashed: {source}")]
    NotCanonical {
        aggregate_id: String,
        sequence: usize,
        source: CanonicalError,
    },
    #[error("sequence {0} does not fit the log")]
    Sequence(usize),
}

fn refused(err: ChainError) -> PersistenceError {
    PersistenceError::UnknownError(Box::new(err))
}

/// [`EventRepository`] with the hash chain: `persist` stamps each event's metadata with
/// `prev_hash` and `hash` (see [`super::chain`]) before delegating, so both are written in the
/// same row and transaction as the event. Reads pass through unchanged.
///
/// The predecessor's hash is read from the log (the event at `sequence - 1`); a case just
/// loaded through this repository spares that query, as its last link is remembered. An event
/// once written never changes, so a remembered link is as good as a read one.
pub struct ChainedRepository {
    inner: EventRepository,
    db: Database,
    recent: Mutex<HashMap<String, (usize, ChainHash)>>,
}

impl std::fmt::Debug for ChainedRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainedRepository")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

fn recent_key(aggregate_type: &str, aggregate_id: &str) -> String {
    format!("{aggregate_type}\u{0}{aggregate_id}")
}

impl ChainedRepository {
    /// The chained repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            inner: EventRepository::new(db),
            db: db.clone(),
            recent: Mutex::new(HashMap::new()),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, HashMap<String, (usize, ChainHash)>> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers the link of the last event just loaded, if it has one.
    fn remember<A: Aggregate>(&self, events: &[SerializedEvent]) {
        let Some(last) = events.last() else { return };
        let Ok(link) = stored_link(&last.metadata) else {
            return;
        };
        let mut recent = self.recent();
        if recent.len() >= RECENT_LINKS {
            recent.clear();
        }
        recent.insert(
            recent_key(A::TYPE, &last.aggregate_id),
            (last.sequence, link.hash),
        );
    }

    /// The hash of the case's event at `sequence - 1` (zero before the first).
    async fn predecessor<A: Aggregate>(
        &self,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<ChainHash, PersistenceError> {
        let Some(previous) = sequence.checked_sub(1).filter(|s| *s > 0) else {
            return Ok(ChainHash::ZERO);
        };
        let key = recent_key(A::TYPE, aggregate_id);
        if let Some((seq, hash)) = self.recent().remove(&key) {
            if seq == previous {
                return Ok(hash);
            }
        }
        let stored =
            i64::try_from(previous).map_err(|_| refused(ChainError::Sequence(sequence)))?;
        let metadata = read_metadata(&self.db, A::TYPE, aggregate_id, stored)
            .await
            .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?
            .ok_or_else(|| {
                refused(ChainError::MissingPredecessor {
                    aggregate_id: aggregate_id.to_owned(),
                    sequence,
                })
            })?;
        stored_link(&metadata).map(|l| l.hash).map_err(|source| {
            refused(ChainError::UnlinkedPredecessor {
                aggregate_id: aggregate_id.to_owned(),
                sequence: previous,
                source,
            })
        })
    }

    /// The events with their links stamped into their metadata.
    async fn chained<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut out: Vec<SerializedEvent> = Vec::with_capacity(events.len());
        for event in events {
            // Within one append, each event follows the one before it.
            let prev = match out.last() {
                Some(p)
                    if p.aggregate_id == event.aggregate_id && p.sequence + 1 == event.sequence =>
                {
                    stored_link(&p.metadata).map(|l| l.hash).map_err(|source| {
                        refused(ChainError::UnlinkedPredecessor {
                            aggregate_id: p.aggregate_id.clone(),
                            sequence: p.sequence,
                            source,
                        })
                    })?
                }
                _ => {
                    self.predecessor::<A>(&event.aggregate_id, event.sequence)
                        .await?
                }
            };
            let not_canonical = |source| {
                refused(ChainError::NotCanonical {
                    aggregate_id: event.aggregate_id.clone(),
                    sequence: event.sequence,
                    source,
                })
            };
            let sequence = i64::try_from(event.sequence)
                .map_err(|_| refused(ChainError::Sequence(event.sequence)))?;
            let hash = event_hash(
                &prev,
                &EventFields {
                    // The backends write A::TYPE, whatever the event says.
                    aggregate_type: A::TYPE,
                    aggregate_id: &event.aggregate_id,
                    sequence,
                    event_type: &event.event_type,
                    event_version: &event.event_version,
                    payload: &event.payload,
                    metadata: &event.metadata,
                },
            )
            .map_err(not_canonical)?;
            let mut stamped = event.clone();
            stamped.aggregate_type = A::TYPE.to_owned();
            stamp(
                &mut stamped.metadata,
                &StoredLink {
                    prev_hash: prev,
                    hash,
                },
            )
            .map_err(not_canonical)?;
            out.push(stamped);
        }
        Ok(out)
    }
}

/// The stored metadata of one event, as a JSON value.
async fn read_metadata(
    db: &Database,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) -> Result<Option<Value>, sqlx::Error> {
    const SQL: &str = "SELECT metadata FROM events \
                       WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";
    match db {
        Database::Postgres(pool) => {
            sqlx::query_scalar(SQL)
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(sequence)
                .fetch_optional(pool)
                .await
        }
        Database::Sqlite(pool) => {
            let text: Option<String> = sqlx::query_scalar(SQL)
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(sequence)
                .fetch_optional(pool)
                .await?;
            text.map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        }
    }
}

impl PersistedEventRepository for ChainedRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self.inner.get_events::<A>(aggregate_id).await?;
        self.remember::<A>(&events);
        Ok(events)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self
            .inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await?;
        self.remember::<A>(&events);
        Ok(events)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.inner.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let chained = self.chained::<A>(events).await?;
        self.inner.persist::<A>(&chained, snapshot_update).await
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<A>().await
    }
}
