//! The read models: what each projection keeps and how a batch of events changes it.
//!
//! A batch is applied set-wise: the per-case states the batch touches are loaded in one
//! query, folded in memory (skipping any event at or below the sequence a state has already
//! seen, so a replayed event changes nothing), and written back in one statement per table.
//!
//! A rebuild's fill ([`Filler`]) folds the same way but keeps the states in memory across
//! pages, up to a bound: each case is written once when it is evicted or at the end, with
//! a bulk insert (`COPY` on PostgreSQL) instead of an upsert, and read back only if an
//! event comes for it after its eviction.

pub mod case_views;
pub mod deadlines;
mod fold;
pub mod stats;

use prconfirm_privacy::BlindIndexKey;

use crate::store::Conn;

pub use case_views::{ServiceStandards, TaskKind};
pub use deadlines::{Deadline, DeadlineKind, DeadlinePolicy};
pub(crate) use fold::{apply_batch, Filler};
pub use fold::{decode, decode_one, ApplyError, Decoded, Fill, Table};

/// The projections this service keeps.
#[derive(Debug, Clone)]
pub enum ReadModel {
    /// `case_status` and `officer_queue`; the case's application number and UCI are kept
    /// for search only as their blind index, under this key.
    CaseViews(ServiceStandards, BlindIndexKey),
    /// The `stats_*` tables.
    Stats,
    /// `deadlines`: the case's clock, read by the scheduler.
    Deadlines(DeadlinePolicy),
}

impl ReadModel {
    /// Every projection, with the given service standards for the queue, policy for the
    /// deadlines and blind-index key for the case views' search columns.
    pub fn all(
        standards: ServiceStandards,
        deadlines: DeadlinePolicy,
        blind: BlindIndexKey,
    ) -> Vec<Self> {
        vec![
            Self::CaseViews(standards, blind),
            Self::Stats,
            Self::Deadlines(deadlines),
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::CaseViews(..) => "case_views",
            Self::Stats => "stats",
            Self::Deadlines(_) => "deadlines",
        }
    }

    /// The shape of the projection's tables as this code writes them (see
    /// `projections.shape`): a change starts the projection again from the first event.
    pub fn shape(&self) -> i64 {
        match self {
            // 2: the search columns hold the blind index, not the plain values.
            Self::CaseViews(..) => 2,
            Self::Stats => 1,
            Self::Deadlines(_) => deadlines::SHAPE,
        }
    }

    pub fn tables(&self) -> &'static [Table] {
        match self {
            Self::CaseViews(..) => case_views::TABLES,
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
            Self::CaseViews(standards, blind) => {
                let fold = case_views::CaseViews(*standards, blind.clone());
                apply_batch(&fold, conn, generation, events).await
            }
            Self::Stats => apply_batch(&stats::Stats, conn, generation, events).await,
            Self::Deadlines(policy) => {
                apply_batch(&deadlines::Deadlines(*policy), conn, generation, events).await
            }
        }
    }

    /// A rebuild's fill of `generation`, holding at most about `cache_cases` case states in
    /// memory.
    pub fn filler(&self, generation: i64, cache_cases: usize) -> Box<dyn Fill> {
        match self {
            Self::CaseViews(standards, blind) => Box::new(Filler::new(
                case_views::CaseViews(*standards, blind.clone()),
                generation,
                cache_cases,
            )),
            Self::Stats => Box::new(Filler::new(stats::Stats, generation, cache_cases)),
            Self::Deadlines(policy) => Box::new(Filler::new(
                deadlines::Deadlines(*policy),
                generation,
                cache_cases,
            )),
        }
    }
}
