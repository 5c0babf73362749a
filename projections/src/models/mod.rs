//! The read models: what each projection keeps and how a batch of events changes it.
//!
//! A batch is applied set-wise: the per-case states the batch touches are loaded in one
//! query, folded in memory (skipping any event at or below the sequence a state has already
//! seen, so a replayed event changes nothing), and written back in one statement per table.

pub mod case_views;
pub mod deadlines;
pub mod stats;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use prconfirm_domain::case::{Case, CaseEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::feed::{FeedCursor, FeedEvent};
use crate::store::{self, Conn};

pub use case_views::{ServiceStandards, TaskKind};
pub use deadlines::{DeadlineKind, DeadlinePolicy};

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

/// The projections this service keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadModel {
    /// `case_status` and `officer_queue`.
    CaseViews(ServiceStandards),
    /// The `stats_*` tables.
    Stats,
    /// `deadlines`: the case's clock, read by the scheduler.
    Deadlines(DeadlinePolicy),
}

impl ReadModel {
    /// Every projection, with the given service standards for the queue and policy for the
    /// deadlines.
    pub fn all(standards: ServiceStandards, deadlines: DeadlinePolicy) -> Vec<Self> {
        vec![
            Self::CaseViews(standards),
            Self::Stats,
            Self::Deadlines(deadlines),
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::CaseViews(_) => "case_views",
            Self::Stats => "stats",
            Self::Deadlines(_) => "deadlines",
        }
    }

    pub fn tables(&self) -> &'static [Table] {
        match self {
            Self::CaseViews(_) => case_views::TABLES,
            Self::Stats => stats::TABLES,
            Self::Deadlines(_) => deadlines::TABLES,
        }
    }

    /// Applies a batch of events to the tables of `generation`.
    ///
    /// # Errors
    /// [`ApplyError`]; the caller rolls the batch back.
    pub async fn apply(
        &self,
        conn: &mut Conn<'_>,
        generation: i64,
        events: &[Decoded],
    ) -> Result<(), ApplyError> {
        match self {
            Self::CaseViews(standards) => {
                case_views::apply(conn, generation, events, standards).await
            }
            Self::Stats => stats::apply(conn, generation, events).await,
            Self::Deadlines(policy) => deadlines::apply(conn, generation, events, policy).await,
        }
    }
}

/// Decodes feed events of cases (other aggregates are none of the read models' business).
///
/// # Errors
/// [`ApplyError::Undecodable`] for the first event whose payload is not a case event.
pub fn decode(events: Vec<FeedEvent>) -> Result<Vec<Decoded>, ApplyError> {
    events
        .into_iter()
        .filter(|e| e.aggregate_type == <Case as cqrs_es::Aggregate>::TYPE)
        .map(|e| {
            let event =
                serde_json::from_value(e.payload).map_err(|source| ApplyError::Undecodable {
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
