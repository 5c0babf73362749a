//! `deadlines`: the case's clock as a read model. One row per case and kind of deadline that
//! is pending now, with the case's version when it was computed; the scheduler (in `api`)
//! issues the due ones as commands of the system actor, each at that version, so a deadline
//! acted on twice (two instances, a restart before the view caught up) is refused by the
//! event store the second time. Nothing is kept in memory: a restart reads the table again.
//!
//! The rows are what the domain says ([`Case::deadlines`]) of the case as its own `apply`
//! builds it: the view never re-derives a rule from events, so it cannot hold a deadline the
//! rules would refuse (a claim the grant already ended, say).

use async_trait::async_trait;
use prconfirm_domain::case::{Case, CaseEvent};

pub use prconfirm_domain::case::{Deadline, DeadlineKind, DeadlinePolicy};

use super::fold::{write_state_table, ApplyError, Fold, Table, STATE_TABLE_DDL};
use crate::store::Write;
use crate::store::{self, Conn, Kind, Shape, Value};

/// The shape of this projection's tables: 2 since its per-case state is the domain's `Case`
/// (1 held a state of its own, folded from the events by rules written again here).
pub(super) const SHAPE: i64 = 2;

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
                until_at BIGINT,
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
        ("until_at", Kind::Int),
        ("seq", Kind::Int),
    ],
    key_len: 2,
};

/// The fold of `deadlines`, under this policy.
pub(crate) struct Deadlines(pub DeadlinePolicy);

#[async_trait]
impl Fold for Deadlines {
    type State = Case;
    type Deltas = ();
    const STATES: &'static str = "deadline_clock";

    fn step(&self, _: &str, state: &mut Case, event: &CaseEvent, (): &mut ()) {
        state.apply_event(event.clone());
    }

    async fn write_states(
        &self,
        conn: &mut Conn<'_>,
        generation: i64,
        states: &[(&str, i64, &Case)],
        how: Write,
    ) -> Result<(), ApplyError> {
        let clock_table = format!("deadline_clock_g{generation}");
        let deadlines_table = format!("deadlines_g{generation}");
        let mut deadline_rows = Vec::new();
        for &(case_id, seq, case) in states {
            for Deadline {
                kind,
                due_at,
                until,
            } in case.deadlines(&self.0)
            {
                deadline_rows.push(vec![
                    Value::from(case_id),
                    Value::from(kind.as_str()),
                    Value::from(due_at.timestamp_millis()),
                    Value::from(until.map(|u| u.timestamp_millis())),
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
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use prconfirm_domain::values::ActorId;

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
    }

    fn kinds(case: &Case) -> Vec<(DeadlineKind, DateTime<Utc>)> {
        case.deadlines(&DeadlinePolicy::default())
            .into_iter()
            .map(|d| (d.kind, d.due_at))
            .collect()
    }

    fn step(case: &mut Case, event: CaseEvent) {
        Deadlines(DeadlinePolicy::default()).step("c", case, &event, &mut ());
    }

    fn invited(respond_in_hours: i64) -> Case {
        let mut case = Case::default();
        step(
            &mut case,
            CaseEvent::Invited {
                file: prconfirm_domain::fixtures::case_file("E001234567", "1234567890", "Zoë"),
                respond_by: t(respond_in_hours),
                guardian_case: None,
                at: t(0),
            },
        );
        case
    }

    #[test]
    fn an_invitation_is_reminded_a_week_ahead_then_expires() {
        let mut case = invited(30 * 24);
        assert_eq!(
            kinds(&case),
            vec![
                (DeadlineKind::RemindInvitation, t(23 * 24)),
                (
                    DeadlineKind::ExpireInvitation,
                    t(30 * 24) + Duration::milliseconds(1)
                ),
            ]
        );
        step(&mut case, CaseEvent::InvitationReminded { at: t(23 * 24) });
        assert_eq!(kinds(&case).len(), 1, "reminded once");
        step(&mut case, CaseEvent::InvitationAccepted { at: t(24 * 24) });
        assert!(kinds(&case).is_empty(), "answered: nothing pending");
    }

    #[test]
    fn a_short_invitation_gets_no_reminder() {
        let case = invited(3 * 24);
        assert_eq!(
            kinds(&case).first().map(|d| d.0),
            Some(DeadlineKind::ExpireInvitation)
        );
    }

    #[test]
    fn a_grant_ends_the_claim_and_its_deadline_with_it() {
        let officer = ActorId::parse("officer.a").unwrap();
        let mut case = invited(30 * 24);
        step(&mut case, CaseEvent::InvitationAccepted { at: t(1) });
        step(
            &mut case,
            CaseEvent::AccountCreated {
                username: ActorId::parse("a-1").unwrap(),
                temporary_password_expires_at: t(73),
                at: t(1),
            },
        );
        assert_eq!(
            kinds(&case),
            vec![(DeadlineKind::ExpireTemporaryPassword, t(73))]
        );
        step(&mut case, CaseEvent::PasswordChanged { at: t(2) });
        step(
            &mut case,
            CaseEvent::CaseClaimed {
                by: officer.clone(),
                until: t(6),
                at: t(3),
            },
        );
        assert_eq!(kinds(&case), vec![(DeadlineKind::ExpireClaim, t(6))]);
        // Granted while the lease runs: the grant ends the claim, and its deadline with it.
        step(
            &mut case,
            CaseEvent::PermanentResidenceGranted {
                by: officer,
                on: t(5).date_naive(),
                at: t(5),
            },
        );
        assert_eq!(kinds(&case), vec![(DeadlineKind::OrderPrCard, t(29))]);
        step(&mut case, CaseEvent::PrCardOrdered { at: t(29) });
        assert!(kinds(&case).is_empty());
    }
}
