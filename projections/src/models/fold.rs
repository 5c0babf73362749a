//! What every read model is built with: decoded events, the fold of a case's state, the
//! state tables, the fill of a rebuild.

use crate::feed::{FeedCursor, RawEvent};
pub(crate) use crate::store::Write;
use crate::store::{self, Conn};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prconfirm_domain::case::{Case, CaseEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// An event of the feed, decoded for the read models.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub cursor: FeedCursor,
    pub case_id: String,
    pub sequence: i64,
    pub event: CaseEvent,
    pub recorded_at: DateTime<Utc>,
}

/// Why a batch could not be applied. Nothing of it was.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("event {case_id}#{sequence} at {cursor} cannot be read: {source}")]
    Undecodable {
        cursor: FeedCursor,
        case_id: String,
        sequence: i64,
        source: serde_json::Error,
    },
    #[error("a stored view state cannot be read: {0}")]
    Corrupt(serde_json::Error),
    #[error("a view state cannot be written: {0}")]
    Encode(serde_json::Error),
}

/// A table a projection owns. Its generation's name is `{base}_g{generation}`; readers use
/// the view named `base`.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub base: &'static str,
    /// Statements creating it, with `{t}` for the generation's table name.
    pub ddl: &'static [&'static str],
    /// Whether the analysts' database role may read the view.
    pub analysts: bool,
}

impl Table {
    pub fn name(&self, generation: i64) -> String {
        format!("{}_g{generation}", self.base)
    }
}

/// Which of a projection's accumulated figures to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// A live batch: everything, added to what the tables hold.
    Batch,
    /// Mid-fill: only the rows that never change once made, inserted.
    Ready,
    /// The fill's end: everything, inserted into empty tables.
    Final,
}

/// One projection's fold: a per-case state in a table of its own (`case_id`, `seq`,
/// `state`), the rows derived from it, and figures summed over cases.
#[async_trait]
pub(crate) trait Fold: Send + Sync {
    type State: Default + Serialize + DeserializeOwned + Send + Sync;
    /// What events add to the figures, kept until written.
    type Deltas: Default + Send;
    /// The base name of the per-case state table.
    const STATES: &'static str;

    fn step(
        &self,
        case_id: &str,
        state: &mut Self::State,
        event: &CaseEvent,
        deltas: &mut Self::Deltas,
    );

    /// Writes each case's state and the rows derived from it.
    async fn write_states(
        &self,
        conn: &mut Conn<'_>,
        generation: i64,
        states: &[(&str, i64, &Self::State)],
        how: Write,
    ) -> Result<(), ApplyError>;

    /// Writes what `flush` selects of `deltas` and removes it from them. A projection
    /// without figures has nothing to write.
    async fn write_deltas(
        &self,
        _conn: &mut Conn<'_>,
        _generation: i64,
        _deltas: &mut Self::Deltas,
        _flush: Flush,
    ) -> Result<(), ApplyError> {
        Ok(())
    }
}

/// The DDL of a per-case state table that holds nothing else.
pub(crate) const STATE_TABLE_DDL: &str = "CREATE TABLE {t} (
                case_id TEXT   NOT NULL PRIMARY KEY,
                seq     BIGINT NOT NULL,
                state   TEXT   NOT NULL
            )";

/// The shape of such a table.
pub(crate) const STATE_TABLE: store::Shape = store::Shape {
    columns: &[
        ("case_id", store::Kind::Text),
        ("seq", store::Kind::Int),
        ("state", store::Kind::Text),
    ],
    key_len: 1,
};

/// Writes `states` into such a table, `state` as JSON.
pub(crate) async fn write_state_table<S: Serialize + Sync>(
    conn: &mut Conn<'_>,
    table: &str,
    states: &[(&str, i64, &S)],
    how: Write,
) -> Result<(), ApplyError> {
    let mut rows = Vec::with_capacity(states.len());
    for &(case_id, seq, state) in states {
        rows.push(vec![
            store::Value::from(case_id),
            store::Value::from(seq),
            store::Value::from(serde_json::to_string(state).map_err(ApplyError::Encode)?),
        ]);
    }
    store::write(conn, table, STATE_TABLE, how, &rows).await?;
    Ok(())
}

/// A live batch: load the touched states, fold, upsert.
pub(crate) async fn apply_batch<F: Fold>(
    fold: &F,
    conn: &mut Conn<'_>,
    generation: i64,
    events: &[Decoded],
) -> Result<(), ApplyError> {
    let mut deltas = F::Deltas::default();
    let table = format!("{}_g{generation}", F::STATES);
    let touched = fold_cases(conn, &table, events, |s: &mut F::State, e| {
        fold.step(&e.case_id, s, &e.event, &mut deltas);
    })
    .await?;
    let states: Vec<_> = touched
        .iter()
        .map(|(id, seq, s)| (id.as_str(), *seq, s))
        .collect();
    fold.write_states(conn, generation, &states, Write::Upsert)
        .await?;
    fold.write_deltas(conn, generation, &mut deltas, Flush::Batch)
        .await
}

/// A rebuild's fill of one projection, page by page (see the module's documentation).
#[async_trait]
pub trait Fill: Send {
    /// Folds one page of the feed, writing what it must to stay within its bound.
    async fn page(&mut self, conn: &mut Conn<'_>, events: &[Decoded]) -> Result<(), ApplyError>;
    /// Writes everything still held.
    async fn finish(&mut self, conn: &mut Conn<'_>) -> Result<(), ApplyError>;
    /// How many case states were written before the end and later read back.
    fn reloaded(&self) -> u64;
}

struct Entry<S> {
    seq: i64,
    state: S,
    /// The state table has a row for this case (it was evicted before).
    stored: bool,
    /// The page that last touched it.
    last: u64,
}

pub(crate) struct Filler<F: Fold> {
    fold: F,
    generation: i64,
    cap: usize,
    states: HashMap<String, Entry<F::State>>,
    deltas: F::Deltas,
    page: u64,
    /// Hashes of the cases written out and not read back: only these can have a stored state
    /// (a collision costs a lookup that finds nothing).
    evicted: HashSet<u64>,
    reloaded: u64,
}

fn id_hash(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
}

impl<F: Fold> Filler<F> {
    pub(crate) fn new(fold: F, generation: i64, cap: usize) -> Self {
        Self {
            fold,
            generation,
            cap: cap.max(1),
            states: HashMap::new(),
            deltas: F::Deltas::default(),
            page: 0,
            evicted: HashSet::new(),
            reloaded: 0,
        }
    }

    /// Writes the states whose last touch is at or before `upto` (all with `None`) and
    /// forgets them: never-written ones by bulk insert, the others by upsert, in key order.
    async fn write_out(
        &mut self,
        conn: &mut Conn<'_>,
        upto: Option<u64>,
    ) -> Result<(), ApplyError> {
        let mut out: Vec<(String, Entry<F::State>)> = match upto {
            None => self.states.drain().collect(),
            Some(upto) => self.states.extract_if(|_, e| e.last <= upto).collect(),
        };
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if upto.is_some() {
            self.evicted.extend(out.iter().map(|(id, _)| id_hash(id)));
        }
        for how in [Write::Fresh, Write::Upsert] {
            let rows: Vec<(&str, i64, &F::State)> = out
                .iter()
                .filter(|(_, e)| e.stored == (how == Write::Upsert))
                .map(|(id, e)| (id.as_str(), e.seq, &e.state))
                .collect();
            for chunk in rows.chunks(20_000) {
                self.fold
                    .write_states(conn, self.generation, chunk, how)
                    .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl<F: Fold> Fill for Filler<F> {
    async fn page(&mut self, conn: &mut Conn<'_>, events: &[Decoded]) -> Result<(), ApplyError> {
        self.page += 1;
        // Cases written out before may come back: read their states again.
        let mut missing: Vec<&str> = events
            .iter()
            .map(|e| e.case_id.as_str())
            .filter(|id| !self.states.contains_key(*id) && self.evicted.contains(&id_hash(id)))
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            missing.dedup();
            let table = format!("{}_g{}", F::STATES, self.generation);
            for (id, (seq, json)) in store::load_states(conn, &table, &missing).await? {
                let state = serde_json::from_str(&json).map_err(ApplyError::Corrupt)?;
                self.reloaded += 1;
                self.evicted.remove(&id_hash(&id));
                self.states.insert(
                    id,
                    Entry {
                        seq,
                        state,
                        stored: true,
                        last: self.page,
                    },
                );
            }
        }
        for e in events {
            let entry = match self.states.get_mut(e.case_id.as_str()) {
                Some(entry) => entry,
                None => self.states.entry(e.case_id.clone()).or_insert(Entry {
                    seq: 0,
                    state: F::State::default(),
                    stored: false,
                    last: self.page,
                }),
            };
            entry.last = self.page;
            if e.sequence <= entry.seq {
                continue;
            }
            self.fold
                .step(&e.case_id, &mut entry.state, &e.event, &mut self.deltas);
            entry.seq = e.sequence;
        }
        self.fold
            .write_deltas(conn, self.generation, &mut self.deltas, Flush::Ready)
            .await?;
        if self.states.len() > self.cap {
            // Evict the half least recently touched.
            let mut lasts: Vec<u64> = self.states.values().map(|e| e.last).collect();
            let middle = lasts.len() / 2;
            let (_, median, _) = lasts.select_nth_unstable(middle);
            let upto = (*median).min(self.page.saturating_sub(1));
            self.write_out(conn, Some(upto)).await?;
        }
        Ok(())
    }

    async fn finish(&mut self, conn: &mut Conn<'_>) -> Result<(), ApplyError> {
        self.write_out(conn, None).await?;
        self.fold
            .write_deltas(conn, self.generation, &mut self.deltas, Flush::Final)
            .await
    }

    fn reloaded(&self) -> u64 {
        self.reloaded
    }
}

/// Decodes one feed event: `None` if it is not a case's (other aggregates are none of the
/// read models' business).
pub fn decode_one(e: &RawEvent) -> Option<Result<Decoded, ApplyError>> {
    if e.aggregate_type != <Case as cqrs_es::Aggregate>::TYPE {
        return None;
    }
    Some(
        e.decode()
            .map(|event| Decoded {
                cursor: e.cursor,
                case_id: e.aggregate_id.clone(),
                sequence: e.sequence,
                event,
                recorded_at: e.recorded_at,
            })
            .map_err(|source| ApplyError::Undecodable {
                cursor: e.cursor,
                case_id: e.aggregate_id.clone(),
                sequence: e.sequence,
                source,
            }),
    )
}

/// Decodes feed events of cases (other aggregates are none of the read models' business).
///
/// # Errors
/// [`ApplyError::Undecodable`] for the first event whose payload is not a case event.
pub fn decode(events: Vec<RawEvent>) -> Result<Vec<Decoded>, ApplyError> {
    events
        .into_iter()
        .filter(|e| e.aggregate_type == <Case as cqrs_es::Aggregate>::TYPE)
        .map(|e| {
            let event = e.decode().map_err(|source| ApplyError::Undecodable {
                cursor: e.cursor,
                case_id: e.aggregate_id.clone(),
                sequence: e.sequence,
                source,
            })?;
            Ok(Decoded {
                cursor: e.cursor,
                case_id: e.aggregate_id,
                sequence: e.sequence,
                event,
                recorded_at: e.recorded_at,
            })
        })
        .collect()
}

/// Loads the states of the cases `events` touch from `table` (columns `case_id`, `seq`,
/// `state`), applies each event newer than its state's `seq` with `step`, and returns the
/// touched states with their new `seq`, in the order first touched.
///
/// # Errors
/// Storage errors; [`ApplyError::Corrupt`] if a stored state does not parse.
pub(crate) async fn fold_cases<S, F>(
    conn: &mut Conn<'_>,
    table: &str,
    events: &[Decoded],
    mut step: F,
) -> Result<Vec<(String, i64, S)>, ApplyError>
where
    S: Default + Serialize + DeserializeOwned,
    F: FnMut(&mut S, &Decoded),
{
    let mut order: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for e in events {
        if !index.contains_key(e.case_id.as_str()) {
            index.insert(&e.case_id, order.len());
            order.push(&e.case_id);
        }
    }
    let mut stored = store::load_states(conn, table, &order).await?;
    let mut states: Vec<(String, i64, S)> = Vec::with_capacity(order.len());
    for id in &order {
        let (seq, state) = match stored.remove(*id) {
            Some((seq, json)) => (
                seq,
                serde_json::from_str(&json).map_err(ApplyError::Corrupt)?,
            ),
            None => (0, S::default()),
        };
        states.push(((*id).to_owned(), seq, state));
    }
    let mut changed = vec![false; states.len()];
    for e in events {
        let i = index[e.case_id.as_str()];
        let (_, seq, state) = &mut states[i];
        if e.sequence <= *seq {
            continue;
        }
        step(state, e);
        *seq = e.sequence;
        changed[i] = true;
    }
    Ok(states
        .into_iter()
        .zip(changed)
        .filter_map(|(s, c)| c.then_some(s))
        .collect())
}
