//! `case_views`: the applicant's status (`case_status`) and the officers' work queue
//! (`officer_queue`), both derived from one per-case state: the case as the domain's own
//! `apply` builds it, plus the open task. Keeping the domain's fold means the views cannot
//! drift from the rules; keeping both tables in one projection means one state per case.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use prconfirm_domain::case::{Case, CaseEvent, PhotoState, Stage};
use prconfirm_domain::photo_quality::QualityFlag;
use prconfirm_privacy::BlindIndexKey;
use serde::{Deserialize, Serialize};

use super::fold::{ApplyError, Fold, Table};
use crate::store::Write;
use crate::store::{self, Conn, Kind, Shape, Value};

/// How long each kind of task may wait before it is overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceStandards {
    pub photo_review: Duration,
    pub final_review: Duration,
    pub stale_invitation: Duration,
    pub amendment_request: Duration,
    pub credentials_expired: Duration,
}

impl Default for ServiceStandards {
    fn default() -> Self {
        Self {
            photo_review: Duration::days(2),
            final_review: Duration::days(5),
            stale_invitation: Duration::days(3),
            amendment_request: Duration::days(10),
            credentials_expired: Duration::days(1),
        }
    }
}

/// An officer's task on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A photo waits for an officer's decision.
    PhotoReview,
    /// Presence, address and an accepted photo: PR can be granted.
    FinalReview,
    /// The invitation's answer date has passed with no answer (due: expire and refer).
    StaleInvitation,
    /// The applicant asked for a correction of the eCoPR.
    AmendmentRequest,
    /// The temporary password lapsed unused: new credentials are needed
    /// (`POST /v1/cases/{id}/credentials`).
    CredentialsExpired,
}

impl TaskKind {
    pub const ALL: [Self; 5] = [
        Self::PhotoReview,
        Self::FinalReview,
        Self::StaleInvitation,
        Self::AmendmentRequest,
        Self::CredentialsExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PhotoReview => "photo_review",
            Self::FinalReview => "final_review",
            Self::StaleInvitation => "stale_invitation",
            Self::AmendmentRequest => "amendment_request",
            Self::CredentialsExpired => "credentials_expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The open task of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub kind: TaskKind,
    pub waiting_since: DateTime<Utc>,
    pub due_by: DateTime<Utc>,
}

/// What the projection keeps per case (the `state` column of `case_status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseViewState {
    pub case: Case,
    pub task: Option<Task>,
    /// When the last event happened.
    pub updated_at: Option<DateTime<Utc>>,
    /// When the eCoPR in force was issued (the download window runs from here).
    pub ecopr_issued_at: Option<DateTime<Utc>>,
    /// When the photo in review was uploaded.
    pub photo_uploaded_at: Option<DateTime<Utc>>,
}

/// The task a case needs now, keeping its start if it is the task it already had.
fn task_after(
    state: &CaseViewState,
    at: DateTime<Utc>,
    standards: &ServiceStandards,
) -> Option<Task> {
    let (kind, started, standard) = match &state.case.stage {
        Stage::Invited { respond_by, .. } => (
            TaskKind::StaleInvitation,
            *respond_by,
            standards.stale_invitation,
        ),
        Stage::AwaitingAccount if state.case.credentials_lapsed_at.is_some() => (
            TaskKind::CredentialsExpired,
            state.case.credentials_lapsed_at.unwrap_or(at),
            standards.credentials_expired,
        ),
        Stage::Confirming(p) => match &p.photo {
            PhotoState::AwaitingReview(_) => (
                TaskKind::PhotoReview,
                state.photo_uploaded_at.unwrap_or(at),
                standards.photo_review,
            ),
            PhotoState::Accepted(_) if Case::missing_for_approval(p).is_empty() => {
                (TaskKind::FinalReview, at, standards.final_review)
            }
            _ => return None,
        },
        Stage::PrGranted(g) | Stage::CardOrdered(g) | Stage::CardMailed(g)
            if g.amendment_requested.is_some() =>
        {
            (TaskKind::AmendmentRequest, at, standards.amendment_request)
        }
        _ => return None,
    };
    match state.task {
        Some(task) if task.kind == kind => Some(task),
        _ => Some(Task {
            kind,
            waiting_since: started,
            due_by: started + standard,
        }),
    }
}

/// Applies one event to a case's state.
pub fn step(state: &mut CaseViewState, event: &CaseEvent, standards: &ServiceStandards) {
    let at = event.at();
    match event {
        CaseEvent::PhotoUploaded { .. } => state.photo_uploaded_at = Some(at),
        CaseEvent::EcoprIssued { .. } | CaseEvent::EcoprAmended { .. } => {
            state.ecopr_issued_at = Some(at);
        }
        _ => {}
    }
    state.case.apply_event(event.clone());
    state.updated_at = Some(at);
    state.task = task_after(state, at, standards);
}

pub(super) const TABLES: &[Table] = &[
    Table {
        base: "case_status",
        ddl: &[
            "CREATE TABLE {t} (
                case_id            TEXT   NOT NULL PRIMARY KEY,
                seq                BIGINT NOT NULL,
                state              TEXT   NOT NULL,
                stage              TEXT   NOT NULL,
                application_number TEXT,
                uci                TEXT,
                updated_at         BIGINT NOT NULL
            )",
            "CREATE INDEX {t}_by_application ON {t} (application_number, case_id)",
            "CREATE INDEX {t}_by_uci ON {t} (uci, case_id)",
            "CREATE INDEX {t}_by_stage ON {t} (stage, case_id)",
        ],
        analysts: false,
    },
    Table {
        base: "officer_queue",
        ddl: &[
            "CREATE TABLE {t} (
                case_id       TEXT   NOT NULL PRIMARY KEY,
                seq           BIGINT NOT NULL,
                task          TEXT   NOT NULL,
                waiting_since BIGINT NOT NULL,
                due_by        BIGINT NOT NULL,
                claimed_by    TEXT,
                claim_until   BIGINT,
                flags         TEXT   NOT NULL
            )",
            "CREATE INDEX {t}_by_due ON {t} (due_by, case_id)",
            "CREATE INDEX {t}_by_task ON {t} (task, due_by, case_id)",
            "CREATE INDEX {t}_by_claim ON {t} (claimed_by, due_by, case_id)",
        ],
        analysts: false,
    },
];

const STATUS: Shape = Shape {
    columns: &[
        ("case_id", Kind::Text),
        ("seq", Kind::Int),
        ("state", Kind::Text),
        ("stage", Kind::Text),
        ("application_number", Kind::Text),
        ("uci", Kind::Text),
        ("updated_at", Kind::Int),
    ],
    key_len: 1,
};

const QUEUE: Shape = Shape {
    columns: &[
        ("case_id", Kind::Text),
        ("seq", Kind::Int),
        ("task", Kind::Text),
        ("waiting_since", Kind::Int),
        ("due_by", Kind::Int),
        ("claimed_by", Kind::Text),
        ("claim_until", Kind::Int),
        ("flags", Kind::Text),
    ],
    key_len: 1,
};

/// The photo quality flags officers see beside a task: the pre-check's, on the photo the
/// case holds now.
fn flags(state: &CaseViewState) -> Vec<QualityFlag> {
    match &state.case.stage {
        Stage::Confirming(p) | Stage::OnHold { progress: p, .. } => p
            .photo
            .uploaded()
            .map(|u| u.quality_flags.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The fold of `case_views`, under these service standards, with the search columns' key.
pub(crate) struct CaseViews(pub ServiceStandards, pub BlindIndexKey);

#[async_trait]
impl Fold for CaseViews {
    type State = CaseViewState;
    type Deltas = ();
    const STATES: &'static str = "case_status";

    fn step(&self, _: &str, state: &mut CaseViewState, event: &CaseEvent, (): &mut ()) {
        step(state, event, &self.0);
    }

    async fn write_states(
        &self,
        conn: &mut Conn<'_>,
        generation: i64,
        states: &[(&str, i64, &CaseViewState)],
        how: Write,
    ) -> Result<(), ApplyError> {
        let status_table = format!("case_status_g{generation}");
        let queue_table = format!("officer_queue_g{generation}");
        let mut status_rows = Vec::with_capacity(states.len());
        let mut queue_rows = Vec::new();
        let mut closed: Vec<&str> = Vec::new();
        for &(case_id, seq, state) in states {
            let file = state.case.file.as_ref();
            status_rows.push(vec![
                Value::from(case_id),
                Value::from(seq),
                Value::from(serde_json::to_string(state).map_err(ApplyError::Encode)?),
                Value::from(state.case.stage.name().as_str()),
                Value::from(
                    file.map(|f| self.1.application_number(&f.application_number).to_hex()),
                ),
                Value::from(file.map(|f| self.1.uci(&f.uci).to_hex())),
                Value::from(state.updated_at.map_or(0, |t| t.timestamp_millis())),
            ]);
            match state.task {
                Some(task) => {
                    let claim = state.case.claim.as_ref();
                    queue_rows.push(vec![
                        Value::from(case_id),
                        Value::from(seq),
                        Value::from(task.kind.as_str()),
                        Value::from(task.waiting_since.timestamp_millis()),
                        Value::from(task.due_by.timestamp_millis()),
                        Value::from(claim.map(|c| c.holder.as_str().to_owned())),
                        Value::from(claim.map(|c| c.until.timestamp_millis())),
                        Value::from(
                            serde_json::to_string(&flags(state)).map_err(ApplyError::Encode)?,
                        ),
                    ]);
                }
                None => closed.push(case_id),
            }
        }
        store::write(conn, &status_table, STATUS, how, &status_rows).await?;
        store::write(conn, &queue_table, QUEUE, how, &queue_rows).await?;
        if how == Write::Upsert {
            store::delete_cases(conn, &queue_table, &closed).await?;
        }
        Ok(())
    }
}
