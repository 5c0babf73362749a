//! `deadlines`: the case's clock as a read model. One row per case and kind of deadline that
//! is pending now, with the case's version when it was computed; the scheduler (in `api`)
//! issues the due ones as commands of the system actor, each at that version, so a deadline
//! acted on twice (two instances, a restart before the view caught up) is refused by the
//! event store the second time. Nothing is kept in memory: a restart reads the table again.
//!
//! Each case's state is the little the deadlines need, folded from its events.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use prconfirm_domain::case::{CaseEvent, StageName};
use serde::{Deserialize, Serialize};

use super::{write_state_table, ApplyError, Fold, Table, Write, STATE_TABLE_DDL};
use crate::store::{self, Conn, Kind, Shape, Value};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

/// What the deadlines of one case depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    pub stage: StageName,
    pub invited_at: Option<DateTime<Utc>>,
    pub respond_by: Option<DateTime<Utc>>,
    pub reminded: bool,
    pub password_expires_at: Option<DateTime<Utc>>,
    pub claim_until: Option<DateTime<Utc>>,
    pub granted_at: Option<DateTime<Utc>>,
}

impl Default for ClockState {
    fn default() -> Self {
        Self {
            stage: StageName::New,
            invited_at: None,
            respond_by: None,
            reminded: false,
            password_expires_at: None,
            claim_until: None,
            granted_at: None,
        }
    }
}

impl ClockState {
    /// Applies one event.
    pub fn step(&mut self, event: &CaseEvent) {
        match event {
            CaseEvent::Invited { respond_by, at, .. } => {
                self.invited_at = Some(*at);
                self.respond_by = Some(*respond_by);
            }
            CaseEvent::InvitationReminded { .. } => self.reminded = true,
            CaseEvent::AccountCreated {
                temporary_password_expires_at,
                ..
            } => self.password_expires_at = Some(*temporary_password_expires_at),
            CaseEvent::CaseClaimed { until, .. } => self.claim_until = Some(*until),
            CaseEvent::ClaimReleased { .. } | CaseEvent::ClaimExpired { .. } => {
                self.claim_until = None;
            }
            CaseEvent::PermanentResidenceGranted { at, .. } => self.granted_at = Some(*at),
            _ => {}
        }
        self.stage = event.stage_after(self.stage);
    }

    /// The deadlines pending in this state, under `policy`.
    pub fn deadlines(&self, policy: &DeadlinePolicy) -> Vec<(DeadlineKind, DateTime<Utc>)> {
        use StageName as S;
        let mut due = Vec::new();
        if let (S::Invited, Some(respond_by)) = (self.stage, self.respond_by) {
            let remind_at = respond_by - policy.remind_before;
            if !self.reminded && self.invited_at.is_some_and(|t| remind_at > t) {
                due.push((DeadlineKind::RemindInvitation, remind_at));
            }
            // The rule: an invitation expires only once its answer date is past.
            due.push((
                DeadlineKind::ExpireInvitation,
                respond_by + Duration::milliseconds(1),
            ));
        }
        if let (S::AwaitingPasswordChange, Some(t)) = (self.stage, self.password_expires_at) {
            due.push((DeadlineKind::ExpireTemporaryPassword, t));
        }
        let open = !matches!(self.stage, S::New | S::Referred | S::Withdrawn);
        if let (true, Some(t)) = (open, self.claim_until) {
            due.push((DeadlineKind::ExpireClaim, t));
        }
        if let (S::PrGranted, Some(t)) = (self.stage, self.granted_at) {
            due.push((DeadlineKind::OrderPrCard, t + policy.order_card_after));
        }
        due
    }
}

pub(super) const TABLES: &[Table] = &[
    Table {
        base: "deadline_clock",
        ddl: &[STATE_TABLE_DDL],
        analysts: false,
    },
    Table {
        base: "deadlines",
        ddl: &[
            "CREATE TABLE {t} (
                case_id TEXT   NOT NULL,
                kind    TEXT   NOT NULL,
                due_at  BIGINT NOT NULL,
                seq     BIGINT NOT NULL,
                PRIMARY KEY (case_id, kind)
            )",
            "CREATE INDEX {t}_by_due ON {t} (due_at, case_id, kind)",
        ],
        analysts: false,
    },
];

const DEADLINES: Shape = Shape {
    columns: &[
        ("case_id", Kind::Text),
        ("kind", Kind::Text),
        ("due_at", Kind::Int),
        ("seq", Kind::Int),
    ],
    key_len: 2,
};

/// The fold of `deadlines`, under this policy.
pub(crate) struct Deadlines(pub DeadlinePolicy);

#[async_trait]
impl Fold for Deadlines {
    type State = ClockState;
    type Deltas = ();
    const STATES: &'static str = "deadline_clock";

    fn step(&self, _: &str, state: &mut ClockState, event: &CaseEvent, (): &mut ()) {
        state.step(event);
    }

    async fn write_states(
        &self,
        conn: &mut Conn<'_>,
        generation: i64,
        states: &[(&str, i64, &ClockState)],
        how: Write,
    ) -> Result<(), ApplyError> {
        let clock_table = format!("deadline_clock_g{generation}");
        let deadlines_table = format!("deadlines_g{generation}");
        let mut deadline_rows = Vec::new();
        for &(case_id, seq, state) in states {
            for (kind, due_at) in state.deadlines(&self.0) {
                deadline_rows.push(vec![
                    Value::from(case_id),
                    Value::from(kind.as_str()),
                    Value::from(due_at.timestamp_millis()),
                    Value::from(seq),
                ]);
            }
        }
        write_state_table(conn, &clock_table, states, how).await?;
        if how == Write::Upsert {
            // A case's pending deadlines are replaced as a whole: the ones it no longer has go.
            let ids: Vec<&str> = states.iter().map(|(id, _, _)| *id).collect();
            store::delete_cases(conn, &deadlines_table, &ids).await?;
        }
        store::write(conn, &deadlines_table, DEADLINES, how, &deadline_rows).await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use prconfirm_domain::values::ActorId;

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
    }

    fn kinds(state: &ClockState) -> Vec<(DeadlineKind, DateTime<Utc>)> {
        state.deadlines(&DeadlinePolicy::default())
    }

    fn invited(respond_in_hours: i64) -> ClockState {
        let mut s = ClockState::default();
        s.step(&CaseEvent::Invited {
            file: prconfirm_domain::fixtures::case_file("E001234567", "1234567890", "Zoë"),
            respond_by: t(respond_in_hours),
            at: t(0),
        });
        s
    }

    #[test]
    fn an_invitation_is_reminded_a_week_ahead_then_expires() {
        let mut s = invited(30 * 24);
        assert_eq!(
            kinds(&s),
            vec![
                (DeadlineKind::RemindInvitation, t(23 * 24)),
                (
                    DeadlineKind::ExpireInvitation,
                    t(30 * 24) + Duration::milliseconds(1)
                ),
            ]
        );
        s.step(&CaseEvent::InvitationReminded { at: t(23 * 24) });
        assert_eq!(kinds(&s).len(), 1, "reminded once");
        s.step(&CaseEvent::InvitationAccepted { at: t(24 * 24) });
        assert!(kinds(&s).is_empty(), "answered: nothing pending");
    }

    #[test]
    fn a_short_invitation_gets_no_reminder() {
        let s = invited(3 * 24);
        assert_eq!(
            kinds(&s).first().map(|d| d.0),
            Some(DeadlineKind::ExpireInvitation)
        );
    }

    #[test]
    fn claims_passwords_and_cards_have_their_deadlines() {
        let mut s = invited(30 * 24);
        s.step(&CaseEvent::InvitationAccepted { at: t(1) });
        s.step(&CaseEvent::AccountCreated {
            username: ActorId::parse("a-1").unwrap(),
            temporary_password_expires_at: t(73),
            at: t(1),
        });
        assert_eq!(
            kinds(&s),
            vec![(DeadlineKind::ExpireTemporaryPassword, t(73))]
        );
        s.step(&CaseEvent::PasswordChanged { at: t(2) });
        s.step(&CaseEvent::CaseClaimed {
            by: ActorId::parse("officer.a").unwrap(),
            until: t(6),
            at: t(3),
        });
        assert_eq!(kinds(&s), vec![(DeadlineKind::ExpireClaim, t(6))]);
        s.step(&CaseEvent::ClaimReleased {
            by: ActorId::parse("officer.a").unwrap(),
            at: t(4),
        });
        assert!(kinds(&s).is_empty());
        s.step(&CaseEvent::PermanentResidenceGranted {
            by: ActorId::parse("officer.a").unwrap(),
            on: t(5).date_naive(),
            at: t(5),
        });
        assert_eq!(kinds(&s), vec![(DeadlineKind::OrderPrCard, t(29))]);
        s.step(&CaseEvent::PrCardOrdered { at: t(29) });
        assert!(kinds(&s).is_empty());
    }
}
