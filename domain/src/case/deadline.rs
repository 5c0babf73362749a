//! The case's clock, as the rules see it: what the system must do to a case, and from when.
//!
//! [`Case::deadlines`] is the one place these are decided: the deadlines read model stores
//! what it answers, and the scheduler issues each deadline's command at its time. Every
//! deadline it names is one whose command `decide` accepts at `due_at` (a property the model
//! test checks on every generated history), so a scheduler never meets a due deadline the
//! rules refuse.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::command::CaseCommand;
use super::state::{Case, Ecopr, Stage};

/// Days an issued eCoPR stays downloadable from the portal, counting the day of issue as
/// day 0 (so through the 30th day after it).
pub const ECOPR_DOWNLOAD_DAYS: i64 = 30;

/// The last day an eCoPR issued on `issued_on` can be downloaded from the portal.
pub fn ecopr_download_by(issued_on: NaiveDate) -> NaiveDate {
    issued_on + Duration::days(ECOPR_DOWNLOAD_DAYS)
}

impl Ecopr {
    /// The last day this eCoPR can be downloaded from the portal.
    pub fn download_by(&self) -> NaiveDate {
        ecopr_download_by(self.issued_on)
    }

    /// Whether it can still be downloaded `today` (through [`Ecopr::download_by`], inclusive).
    pub fn downloadable_on(&self, today: NaiveDate) -> bool {
        today <= self.download_by()
    }
}

/// When the deadlines fall, relative to what the case holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlinePolicy {
    /// How long before the answer date the applicant is reminded (no reminder when the
    /// invitation was shorter than this).
    pub remind_before: Duration,
    /// How long after PR is granted the card is ordered (cards go to production in batches).
    pub order_card_after: Duration,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        Self {
            remind_before: Duration::days(7),
            order_card_after: Duration::hours(24),
        }
    }
}

/// A kind of deadline, and the command it calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// Remind the applicant of the invitation's answer date (`RemindInvitation`).
    RemindInvitation,
    /// The answer date passed (`ExpireInvitation`, which refers the case).
    ExpireInvitation,
    /// The temporary password lapsed unused (`ExpireTemporaryPassword`).
    ExpireTemporaryPassword,
    /// An officer's claim lease ended (`ExpireClaim`).
    ExpireClaim,
    /// PR granted: the card goes into production (`OrderPrCard`).
    OrderPrCard,
}

impl DeadlineKind {
    pub const ALL: [Self; 5] = [
        Self::RemindInvitation,
        Self::ExpireInvitation,
        Self::ExpireTemporaryPassword,
        Self::ExpireClaim,
        Self::OrderPrCard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RemindInvitation => "remind_invitation",
            Self::ExpireInvitation => "expire_invitation",
            Self::ExpireTemporaryPassword => "expire_temporary_password",
            Self::ExpireClaim => "expire_claim",
            Self::OrderPrCard => "order_pr_card",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The command the system issues when the deadline falls due.
    pub fn command(self) -> CaseCommand {
        match self {
            Self::RemindInvitation => CaseCommand::RemindInvitation,
            Self::ExpireInvitation => CaseCommand::ExpireInvitation,
            Self::ExpireTemporaryPassword => CaseCommand::ExpireTemporaryPassword,
            Self::ExpireClaim => CaseCommand::ExpireClaim,
            Self::OrderPrCard => CaseCommand::OrderPrCard,
        }
    }
}

/// A deadline pending on a case: its command is due from `due_at` and, if `until` is set,
/// only before `until` (a reminder is of no use once the answer date has passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub due_at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Case {
    /// The deadlines pending on the case as it stands, under `policy`, each with the time
    /// from which (and, for some, until which) the rules accept its command.
    pub fn deadlines(&self, policy: &DeadlinePolicy) -> Vec<Deadline> {
        let mut due = Vec::new();
        let mut push = |kind, due_at, until| {
            due.push(Deadline {
                kind,
                due_at,
                until,
            });
        };
        match &self.stage {
            Stage::Invited {
                respond_by,
                reminded,
            } => {
                let remind_at = *respond_by - policy.remind_before;
                let long_enough = self.invited_at.is_none_or(|t| remind_at > t);
                if !reminded && long_enough {
                    push(DeadlineKind::RemindInvitation, remind_at, Some(*respond_by));
                }
                // An invitation expires only once its answer date is past.
                push(
                    DeadlineKind::ExpireInvitation,
                    *respond_by + Duration::milliseconds(1),
                    None,
                );
            }
            Stage::AwaitingPasswordChange { expires_at } => {
                push(DeadlineKind::ExpireTemporaryPassword, *expires_at, None);
            }
            Stage::PrGranted(g) => {
                // Cases granted before the time of the grant was kept fall back to the day's
                // start.
                let granted_at = g
                    .granted_at
                    .unwrap_or_else(|| g.granted_on.and_time(NaiveTime::MIN).and_utc());
                push(
                    DeadlineKind::OrderPrCard,
                    granted_at + policy.order_card_after,
                    None,
                );
            }
            _ => {}
        }
        if let (true, Some(claim)) = (self.stage.is_open(), &self.claim) {
            push(DeadlineKind::ExpireClaim, claim.until, None);
        }
        due
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::values::DocumentNumber;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_ecopr_downloads_for_thirty_days_after_issue_and_then_no_more() {
        let ecopr = Ecopr {
            document_number: DocumentNumber::from_serial(1),
            issued_on: day(2026, 6, 1),
            superseded: Vec::new(),
        };
        assert!(ecopr.downloadable_on(day(2026, 6, 1)));
        assert!(
            ecopr.downloadable_on(day(2026, 7, 1)),
            "the 30th day counts"
        );
        assert!(!ecopr.downloadable_on(day(2026, 7, 2)));
        assert_eq!(ecopr.download_by(), day(2026, 7, 1));
    }
}
