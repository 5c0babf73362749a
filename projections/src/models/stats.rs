//! `stats`: the analysts' figures. No personal data: per case it keeps only the stage and
//! since when (under the case's random id, in a table analysts cannot read); the figures are
//! counts and durations by stage, reason, day and officer.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prconfirm_domain::case::{CaseEvent, StageName};
use serde::{Deserialize, Serialize};

use super::fold::{write_state_table, ApplyError, Flush, Fold, Table, STATE_TABLE_DDL};
use crate::store::Write;
use crate::store::{self, Conn, Kind, OnConflict, Shape, Value};

/// The per-case state: the stage and since when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageState {
    pub stage: Option<StageName>,
    pub since: Option<DateTime<Utc>>,
}

pub(super) const TABLES: &[Table] = &[
    Table {
        base: "stats_cases",
        ddl: &[STATE_TABLE_DDL],
        analysts: false,
    },
    Table {
        base: "stats_funnel",
        ddl: &["CREATE TABLE {t} (stage TEXT NOT NULL PRIMARY KEY, cases BIGINT NOT NULL)"],
        analysts: true,
    },
    Table {
        base: "stats_stage_durations",
        ddl: &[
            "CREATE TABLE {t} (
                case_id     TEXT   NOT NULL,
                stage       TEXT   NOT NULL,
                entered_at  BIGINT NOT NULL,
                duration_ms BIGINT NOT NULL,
                PRIMARY KEY (case_id, stage, entered_at)
            )",
            "CREATE INDEX {t}_by_stage ON {t} (stage, duration_ms)",
        ],
        analysts: false,
    },
    Table {
        base: "stats_photo_returns",
        ddl: &["CREATE TABLE {t} (reason TEXT NOT NULL PRIMARY KEY, returns BIGINT NOT NULL)"],
        analysts: true,
    },
    Table {
        base: "stats_counters",
        ddl: &["CREATE TABLE {t} (name TEXT NOT NULL PRIMARY KEY, value BIGINT NOT NULL)"],
        analysts: true,
    },
    Table {
        base: "stats_daily",
        ddl: &["CREATE TABLE {t} (
                day    TEXT   NOT NULL,
                kind   TEXT   NOT NULL,
                events BIGINT NOT NULL,
                PRIMARY KEY (day, kind)
            )"],
        analysts: true,
    },
    Table {
        base: "stats_officer_decisions",
        ddl: &["CREATE TABLE {t} (
                officer   TEXT   NOT NULL,
                decision  TEXT   NOT NULL,
                decisions BIGINT NOT NULL,
                PRIMARY KEY (officer, decision)
            )"],
        analysts: true,
    },
];

const FUNNEL: Shape = Shape {
    columns: &[("stage", Kind::Text), ("cases", Kind::Int)],
    key_len: 1,
};
const DURATIONS: Shape = Shape {
    columns: &[
        ("case_id", Kind::Text),
        ("stage", Kind::Text),
        ("entered_at", Kind::Int),
        ("duration_ms", Kind::Int),
    ],
    key_len: 3,
};
const RETURNS: Shape = Shape {
    columns: &[("reason", Kind::Text), ("returns", Kind::Int)],
    key_len: 1,
};
const COUNTERS: Shape = Shape {
    columns: &[("name", Kind::Text), ("value", Kind::Int)],
    key_len: 1,
};
const DAILY: Shape = Shape {
    columns: &[
        ("day", Kind::Text),
        ("kind", Kind::Text),
        ("events", Kind::Int),
    ],
    key_len: 2,
};
const DECISIONS: Shape = Shape {
    columns: &[
        ("officer", Kind::Text),
        ("decision", Kind::Text),
        ("decisions", Kind::Int),
    ],
    key_len: 2,
};

/// What one batch (or a whole fill) adds to the figures.
#[derive(Debug, Default)]
pub(crate) struct Deltas {
    funnel: HashMap<StageName, i64>,
    durations: Vec<Vec<Value>>,
    returns: HashMap<String, i64>,
    counters: HashMap<&'static str, i64>,
    daily: HashMap<(String, &'static str), i64>,
    decisions: HashMap<(String, &'static str), i64>,
}

/// The daily-volume kind of an event, if it counts.
fn daily_kind(event: &CaseEvent) -> Option<&'static str> {
    Some(match event {
        CaseEvent::Invited { .. } => "invited",
        CaseEvent::InvitationAccepted { .. } | CaseEvent::InvitationAcceptedByGuardian { .. } => {
            "invitation_accepted"
        }
        CaseEvent::InvitationDeclined { .. } => "invitation_declined",
        CaseEvent::InvitationExpired { .. } => "invitation_expired",
        CaseEvent::PhotoUploaded { .. } => "photo_uploaded",
        CaseEvent::PhotoAccepted { .. } => "photo_accepted",
        CaseEvent::PhotoReturned { .. } => "photo_returned",
        CaseEvent::PermanentResidenceGranted { .. } => "pr_granted",
        CaseEvent::EcoprAmended { .. } => "ecopr_amended",
        CaseEvent::PrCardMailed { .. } => "pr_card_mailed",
        CaseEvent::ReferredToInPersonLanding { .. } => "referred",
        CaseEvent::CaseWithdrawn { .. } => "withdrawn",
        _ => return None,
    })
}

/// The officer's decision an event records, if any.
fn decision(event: &CaseEvent) -> Option<(&str, &'static str)> {
    Some(match event {
        CaseEvent::PhotoAccepted { by, .. } => (by.as_str(), "photo_accepted"),
        CaseEvent::PhotoReturned { by, .. } => (by.as_str(), "photo_returned"),
        CaseEvent::PermanentResidenceGranted { by, .. } => (by.as_str(), "pr_granted"),
        CaseEvent::EcoprAmended { by, .. } => (by.as_str(), "ecopr_amended"),
        CaseEvent::ReferredToInPersonLanding { by, .. } => (by.as_str(), "referred"),
        CaseEvent::CaseWithdrawn { by, .. } => (by.as_str(), "withdrawn"),
        _ => return None,
    })
}

impl Deltas {
    fn step(&mut self, case_id: &str, state: &mut StageState, event: &CaseEvent) {
        let at = event.at();
        let before = state.stage.unwrap_or(StageName::New);
        let after = event.stage_after(before);
        if after != before || state.stage.is_none() {
            if let Some(stage) = state.stage {
                *self.funnel.entry(stage).or_default() -= 1;
                if let Some(since) = state.since {
                    self.durations.push(vec![
                        Value::from(case_id),
                        Value::from(stage.as_str()),
                        Value::from(since.timestamp_millis()),
                        Value::from((at - since).num_milliseconds().max(0)),
                    ]);
                }
            }
            *self.funnel.entry(after).or_default() += 1;
            state.stage = Some(after);
            state.since = Some(at);
        }
        match event {
            CaseEvent::PhotoUploaded { .. } => {
                *self.counters.entry("photos_uploaded").or_default() += 1
            }
            CaseEvent::PhotoAccepted { .. } => {
                *self.counters.entry("photos_accepted").or_default() += 1
            }
            CaseEvent::PhotoReturned { reason, .. } => {
                *self.counters.entry("photos_returned").or_default() += 1;
                let reason = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                *self.returns.entry(reason).or_default() += 1;
            }
            _ => {}
        }
        if let Some(kind) = daily_kind(event) {
            let day = at.date_naive().to_string();
            *self.daily.entry((day, kind)).or_default() += 1;
        }
        if let Some((officer, what)) = decision(event) {
            *self
                .decisions
                .entry((officer.to_owned(), what))
                .or_default() += 1;
        }
    }
}

/// The fold of `stats`.
pub(crate) struct Stats;

#[async_trait]
impl Fold for Stats {
    type State = StageState;
    type Deltas = Deltas;
    const STATES: &'static str = "stats_cases";

    fn step(&self, case_id: &str, state: &mut StageState, event: &CaseEvent, deltas: &mut Deltas) {
        deltas.step(case_id, state, event);
    }

    async fn write_states(
        &self,
        conn: &mut Conn<'_>,
        generation: i64,
        states: &[(&str, i64, &StageState)],
        how: Write,
    ) -> Result<(), ApplyError> {
        write_state_table(conn, &format!("stats_cases_g{generation}"), states, how).await
    }

    async fn write_deltas(
        &self,
        conn: &mut Conn<'_>,
        generation: i64,
        deltas: &mut Deltas,
        flush: Flush,
    ) -> Result<(), ApplyError> {
        let table = |base: &str| format!("{base}_g{generation}");
        // A stage's time, once it is left, never changes: written as it comes.
        let durations = std::mem::take(&mut deltas.durations);
        let how = if flush == Flush::Batch {
            Write::Upsert
        } else {
            Write::Fresh
        };
        store::write(
            conn,
            &table("stats_stage_durations"),
            DURATIONS,
            how,
            &durations,
        )
        .await?;
        if flush == Flush::Ready {
            return Ok(());
        }
        let deltas = std::mem::take(deltas);
        // Counts are added to what a live table holds; a fill writes its totals once. Every
        // stage a case entered has its row, at zero once all have left it, however the
        // events were batched, so that a rebuild equals the live table row for row.
        // Every stage a case entered has its row, at zero once all have left it, however the
        // events were batched, so that a rebuild equals the live table row for row.
        let funnel: Vec<_> = deltas
            .funnel
            .iter()
            .map(|(s, n)| vec![Value::from(s.as_str()), Value::from(*n)])
            .collect();
        counts(conn, &table("stats_funnel"), FUNNEL, flush, &funnel).await?;
        let returns: Vec<_> = deltas
            .returns
            .iter()
            .map(|(r, n)| vec![Value::from(r.as_str()), Value::from(*n)])
            .collect();
        counts(
            conn,
            &table("stats_photo_returns"),
            RETURNS,
            flush,
            &returns,
        )
        .await?;
        let counters: Vec<_> = deltas
            .counters
            .iter()
            .map(|(c, n)| vec![Value::from(*c), Value::from(*n)])
            .collect();
        counts(conn, &table("stats_counters"), COUNTERS, flush, &counters).await?;
        let daily: Vec<_> = deltas
            .daily
            .iter()
            .map(|((d, k), n)| vec![Value::from(d.as_str()), Value::from(*k), Value::from(*n)])
            .collect();
        counts(conn, &table("stats_daily"), DAILY, flush, &daily).await?;
        let decisions: Vec<_> = deltas
            .decisions
            .iter()
            .map(|((o, d), n)| vec![Value::from(o.as_str()), Value::from(*d), Value::from(*n)])
            .collect();
        counts(
            conn,
            &table("stats_officer_decisions"),
            DECISIONS,
            flush,
            &decisions,
        )
        .await?;
        Ok(())
    }
}

/// Writes counts: added to what a live table holds, or a fill's totals inserted once.
async fn counts(
    conn: &mut Conn<'_>,
    table: &str,
    shape: Shape,
    flush: Flush,
    rows: &[Vec<Value>],
) -> Result<(), sqlx::Error> {
    match flush {
        Flush::Batch => store::upsert(conn, table, shape, OnConflict::Add, rows).await,
        Flush::Ready | Flush::Final => store::insert(conn, table, shape, rows).await,
    }
}
