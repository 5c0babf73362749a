//! The case's clock: issues, as the system actor, the commands whose deadlines fell due.
//!
//! The deadlines are a read model (`projections::models::deadlines`), not timers in memory,
//! so they survive restarts. Each is issued at the case version the view computed it from
//! (`expected_version`): if the case moved on, or another instance or an earlier round already
//! acted, the event store refuses the command and nothing happens twice. The rules still judge
//! every command (an invitation expires only after its answer date, whatever the clock says).
//!
//! [`run`] ticks only in the instance that holds the `deadlines` projection's lease, so one
//! instance acts at a time, and another takes over with the lease.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use prconfirm_commands::{Actor, CaseService, CommandError, RequestMeta};
use prconfirm_domain::case::{CaseCommand, CaseError};
use prconfirm_projections::models::DeadlineKind;
use prconfirm_projections::reads::{self, DueDeadline, ReadError};
use prconfirm_projections::runner::Signals;

/// Deadlines looked at per round.
const ROUND: u32 = 200;
/// The projection whose lease the scheduler follows.
const LEASE: &str = "deadlines";

/// Why a round stopped. What it issued before stays issued.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Command(#[from] CommandError),
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
    /// Deadlines already acted on (issued, or refused by the rules) at their version: skipped
    /// until the view moves on, to spare the store a refusal. Only an optimisation: the
    /// version check is what makes a deadline fire once.
    done: HashSet<(String, DeadlineKind, u64)>,
}

fn command(kind: DeadlineKind) -> CaseCommand {
    match kind {
        DeadlineKind::RemindInvitation => CaseCommand::RemindInvitation,
        DeadlineKind::ExpireInvitation => CaseCommand::ExpireInvitation,
        DeadlineKind::ExpireTemporaryPassword => CaseCommand::ExpireTemporaryPassword,
        DeadlineKind::ExpireClaim => CaseCommand::ExpireClaim,
        DeadlineKind::OrderPrCard => CaseCommand::OrderPrCard,
    }
}

impl Scheduler {
    pub fn new(cases: Arc<CaseService>) -> Self {
        Self {
            cases,
            done: HashSet::new(),
        }
    }

    /// One round: issues every deadline due at the clock's present time.
    ///
    /// # Errors
    /// Storage errors; the deadlines not reached wait for the next round.
    pub async fn tick(&mut self) -> Result<Vec<Issued>, SchedulerError> {
        let now = self.cases.clock().now();
        let due = reads::due_deadlines(self.cases.database(), now, ROUND).await?;
        self.done.retain(|k| {
            due.iter()
                .any(|d| (&d.case_id, d.kind, d.version) == (&k.0, k.1, k.2))
        });
        let mut issued = Vec::new();
        for deadline in due {
            let key = (deadline.case_id.clone(), deadline.kind, deadline.version);
            if self.done.contains(&key) {
                continue;
            }
            if let Some(done) = self.issue(&deadline).await? {
                issued.push(done);
            }
            self.done.insert(key);
        }
        Ok(issued)
    }

    async fn issue(&self, d: &DueDeadline) -> Result<Option<Issued>, SchedulerError> {
        let mut meta = RequestMeta::new(Actor::system());
        meta.expected_version = Some(d.version);
        let outcome = self.cases.execute(&d.case_id, command(d.kind), &meta).await;
        let (label, result) = match outcome {
            Ok(committed) => {
                tracing::info!(case = %d.case_id, deadline = d.kind.as_str(),
                    version = committed.version, "deadline acted on");
                let issued = Issued {
                    case_id: d.case_id.clone(),
                    kind: d.kind,
                    version: committed.version,
                };
                ("issued", Ok(Some(issued)))
            }
            // The case moved on since the view computed the deadline (or another round
            // acted first): the view will say what is due now.
            Err(
                CommandError::Rejected(CaseError::StaleVersion { .. }) | CommandError::Conflict,
            ) => ("superseded", Ok(None)),
            Err(CommandError::Rejected(e)) => {
                tracing::warn!(case = %d.case_id, deadline = d.kind.as_str(), error = %e,
                    "the rules refused a due deadline's command");
                ("refused", Ok(None))
            }
            Err(CommandError::NotFound(_)) => ("refused", Ok(None)),
            Err(e) => ("error", Err(e.into())),
        };
        metrics::counter!("prconfirm_scheduler_commands_total",
            "deadline" => d.kind.as_str(), "outcome" => label)
        .increment(1);
        result
    }
}

/// Ticks while this instance holds the `deadlines` lease: after every batch the projections
/// apply (a deadline may just have appeared or moved) and every `interval` (time passes).
pub async fn run(mut scheduler: Scheduler, signals: Signals, interval: Duration) {
    loop {
        let holder = signals.health().get(LEASE).is_some_and(|h| h.running_here);
        if holder {
            if let Err(e) = scheduler.tick().await {
                tracing::warn!(error = %e, "scheduler round failed; retrying");
            }
        }
        let _ = tokio::time::timeout(interval, signals.applied.notified()).await;
    }
}
