//! The case's clock: issues, as the system actor, the commands whose deadlines fell due.
//!
//! The deadlines are a read model (`projections::models::deadlines`, what the domain's
//! `Case::deadlines` says of each case), not timers in memory, so they survive restarts. Each
//! is issued at the case version the view computed it from (`expected_version`): if the case
//! moved on, or another instance or an earlier round already acted, the event store refuses
//! the command and nothing happens twice. The rules still judge every command.
//!
//! A consumer of the runtime (`clock`): one instance at a time holds its lease. A deadline
//! whose command the rules refuse (which the domain's own property test says cannot happen)
//! is parked as refused, so a round never reads it again and the others go on; it shows in
//! `prconfirm consumers parked` and in `/readyz`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prconfirm_commands::{Actor, CaseService, CommandError, RequestMeta};
use prconfirm_domain::case::CaseError;
use prconfirm_projections::models::DeadlineKind;
use prconfirm_projections::reads::{self, deadline_key, DueDeadline, ReadError};
use prconfirm_projections::runtime::parked::{self, Why};
use prconfirm_projections::runtime::reactor::checkpoint;
use prconfirm_projections::runtime::{Consumer, Kind, Round, RoundError};
use prconfirm_projections::store::Conn;

/// The consumer's name: its lease and parked items.
pub const CONSUMER: &str = "clock";

/// Deadlines looked at per round.
const ROUND: u32 = 200;
/// How often parked deadlines the view no longer holds are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Why a round stopped. What it issued before stays issued.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

/// A command the scheduler issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub case_id: String,
    pub kind: DeadlineKind,
    /// The case's version after the command.
    pub version: u64,
}

/// Issues due deadlines on the service's clock.
#[derive(Debug)]
pub struct Scheduler {
    cases: Arc<CaseService>,
    interval: Duration,
    /// Deadlines already acted on at their version: skipped until the view moves on, to
    /// spare the store a refusal. Only an optimisation: the version check is what makes a
    /// deadline fire once.
    done: Mutex<HashSet<(String, DeadlineKind, u64)>>,
    forgot: Mutex<Option<Instant>>,
}

/// What one deadline's command came to.
enum Outcome {
    Issued(Issued),
    /// The case moved on (or another round acted first): the view will say what is due.
    Superseded,
    Refused(String),
}

impl Scheduler {
    /// A scheduler looking for due deadlines at least every `interval`.
    pub fn new(cases: Arc<CaseService>, interval: Duration) -> Self {
        Self {
            cases,
            interval,
            done: Mutex::default(),
            forgot: Mutex::default(),
        }
    }

    fn done(&self) -> std::sync::MutexGuard<'_, HashSet<(String, DeadlineKind, u64)>> {
        self.done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One round: issues every deadline due at the clock's present time (up to a page),
    /// parking the ones the rules refuse.
    ///
    /// # Errors
    /// Storage errors; the deadlines not reached wait for the next round.
    pub async fn tick(&self, conn: &mut Conn<'_>) -> Result<Vec<Issued>, SchedulerError> {
        Ok(self.round_on(conn).await?.0)
    }

    /// A round: what it issued, and how many due deadlines it read.
    async fn round_on(
        &self,
        conn: &mut Conn<'_>,
    ) -> Result<(Vec<Issued>, usize, usize), SchedulerError> {
        let now = self.cases.clock().now();
        let due = reads::due_deadlines(conn, now, ROUND, CONSUMER).await?;
        self.done().retain(|k| {
            due.iter()
                .any(|d| (&d.case_id, d.kind, d.version) == (&k.0, k.1, k.2))
        });
        let mut issued = Vec::new();
        let mut refused = 0;
        for deadline in &due {
            let key = (deadline.case_id.clone(), deadline.kind, deadline.version);
            if self.done().contains(&key) {
                continue;
            }
            match self.issue(deadline).await? {
                Outcome::Issued(done) => issued.push(done),
                Outcome::Superseded => {}
                Outcome::Refused(why) => {
                    refused += 1;
                    let item = deadline_key(&deadline.case_id, deadline.kind, deadline.version);
                    let version = i64::try_from(deadline.version).unwrap_or(i64::MAX);
                    let place = (deadline.case_id.as_str(), version);
                    let why = Why::Refused(why);
                    parked::park(conn, CONSUMER, &item, place, &why, 0, chrono::Utc::now()).await?;
                }
            }
            self.done().insert(key);
        }
        self.forget_gone(conn).await?;
        Ok((issued, due.len(), refused))
    }

    /// Every [`FORGET_EVERY`], drops parked deadlines the view no longer holds.
    async fn forget_gone(&self, conn: &mut Conn<'_>) -> Result<(), SchedulerError> {
        let due = {
            let mut last = self
                .forgot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = last.is_none_or(|t| t.elapsed() >= FORGET_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            reads::forget_gone_deadlines(conn, CONSUMER).await?;
        }
        Ok(())
    }

    async fn issue(&self, d: &DueDeadline) -> Result<Outcome, SchedulerError> {
        let mut meta = RequestMeta::new(Actor::system());
        meta.expected_version = Some(d.version);
        let outcome = self
            .cases
            .execute(&d.case_id, d.kind.command(), &meta)
            .await;
        let (label, result) = match outcome {
            Ok(committed) => {
                tracing::info!(case = %d.case_id, deadline = d.kind.as_str(),
                    version = committed.version, "deadline acted on");
                let issued = Issued {
                    case_id: d.case_id.clone(),
                    kind: d.kind,
                    version: committed.version,
                };
                ("issued", Ok(Outcome::Issued(issued)))
            }
            Err(
                CommandError::Rejected(CaseError::StaleVersion { .. }) | CommandError::Conflict,
            ) => ("superseded", Ok(Outcome::Superseded)),
            Err(CommandError::Rejected(e)) => {
                tracing::warn!(case = %d.case_id, deadline = d.kind.as_str(), error = %e,
                    "the rules refused a due deadline's command; parked");
                ("refused", Ok(Outcome::Refused(e.to_string())))
            }
            Err(CommandError::NotFound(id)) => {
                ("refused", Ok(Outcome::Refused(format!("no case {id}"))))
            }
            Err(e) => ("error", Err(e.into())),
        };
        metrics::counter!("prconfirm_scheduler_commands_total",
            "deadline" => d.kind.as_str(), "outcome" => label)
        .increment(1);
        result
    }
}

#[async_trait]
impl Consumer for Scheduler {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn kind(&self) -> Kind {
        Kind::Reactor
    }

    async fn round(&self, conn: &mut Conn<'_>, _failures: u32) -> Result<Round, RoundError> {
        let (issued, read, refused) = self
            .round_on(conn)
            .await
            .map_err(|e| RoundError::Failed(e.to_string()))?;
        let acted = issued.len() + refused;
        Ok(Round {
            passed: acted,
            // A full page that moved something: there may be more due at once.
            more: read >= ROUND as usize && acted > 0,
            position: None,
        })
    }

    async fn mark_stalled(
        &self,
        conn: &mut Conn<'_>,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        checkpoint::mark_stalled(conn, CONSUMER, error).await
    }

    fn reset(&self) {
        self.done().clear();
    }

    fn interval(&self) -> Duration {
        self.interval
    }
}
