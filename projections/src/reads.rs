//! Queries on the read models' views, for the API. Each reads one view with one indexed
//! query; none touches the event log.

use chrono::{DateTime, TimeZone, Utc};
use prconfirm_migrations::{on_conn, on_db, Conn, Database};
use serde::Serialize;

use crate::models::case_views::CaseViewState;
use crate::models::TaskKind;

/// A failure to read a view.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("a stored view state cannot be read: {0}")]
    Corrupt(#[from] serde_json::Error),
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A case's row in `case_status`: the version the view has reached and the state.
///
/// # Errors
/// [`ReadError`].
pub async fn case_status(
    db: &Database,
    case_id: &str,
) -> Result<Option<(i64, CaseViewState)>, ReadError> {
    let sql = "SELECT seq, state FROM case_status WHERE case_id = $1";
    let row: Option<(i64, String)> = on_db!(db, |pool| sqlx::query_as(sql)
        .bind(case_id)
        .fetch_optional(pool)
        .await)?;
    row.map(|(seq, state)| Ok((seq, serde_json::from_str(&state)?)))
        .transpose()
}

/// Which claims a queue page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimFilter {
    Any,
    /// Held by someone, lease running.
    Claimed,
    /// Nobody's, or the lease ran out.
    Unclaimed,
    /// Held by this officer, lease running.
    By(String),
}

/// A queue page's request.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    pub task: Option<TaskKind>,
    pub claim: ClaimFilter,
    pub now: DateTime<Utc>,
    /// After this `(due_by, case_id)`.
    pub after: Option<(DateTime<Utc>, String)>,
    pub limit: u32,
}

/// An open task as the queue shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueItem {
    pub case_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::models::TaskKind))]
    pub task: String,
    pub waiting_since: DateTime<Utc>,
    pub due_by: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_until: Option<DateTime<Utc>>,
    pub flags: Vec<String>,
    /// The case's version the row reflects.
    pub version: i64,
}

/// Open tasks, oldest due first, from `(due_by, case_id)` after the cursor. Tasks that open
/// later (an invitation whose answer date has not passed) are not shown yet.
///
/// # Errors
/// [`ReadError`].
pub async fn queue_page(db: &Database, q: &QueueQuery) -> Result<Vec<QueueItem>, ReadError> {
    let mut sql = String::from(
        "SELECT case_id, task, waiting_since, due_by, claimed_by, claim_until, flags, seq \
         FROM officer_queue WHERE (due_by, case_id) > ($2, $3) AND waiting_since <= $1",
    );
    if q.task.is_some() {
        sql.push_str(" AND task = $5");
    } else {
        sql.push_str(" AND $5 = $5");
    }
    match q.claim {
        ClaimFilter::Any => sql.push_str(" AND $6 = $6"),
        ClaimFilter::Claimed => {
            sql.push_str(" AND claimed_by IS NOT NULL AND claim_until > $1 AND $6 = $6");
        }
        ClaimFilter::Unclaimed => {
            sql.push_str(" AND (claimed_by IS NULL OR claim_until <= $1) AND $6 = $6");
        }
        ClaimFilter::By(_) => sql.push_str(" AND claimed_by = $6 AND claim_until > $1"),
    }
    sql.push_str(" ORDER BY due_by, case_id LIMIT $4");
    let now = q.now.timestamp_millis();
    let (after_due, after_id) = q
        .after
        .as_ref()
        .map_or((i64::MIN, String::new()), |(d, id)| {
            (d.timestamp_millis(), id.clone())
        });
    let task = q.task.map_or("", TaskKind::as_str);
    let holder = match &q.claim {
        ClaimFilter::By(who) => who.as_str(),
        _ => "",
    };
    type Row = (
        String,
        String,
        i64,
        i64,
        Option<String>,
        Option<i64>,
        String,
        i64,
    );
    let rows: Vec<Row> = on_db!(db, |pool| sqlx::query_as(&sql)
        .bind(now)
        .bind(after_due)
        .bind(&after_id)
        .bind(i64::from(q.limit))
        .bind(task)
        .bind(holder)
        .fetch_all(pool)
        .await)?;
    rows.into_iter()
        .map(
            |(case_id, task, since, due, claimed_by, until, flags, seq)| {
                let running = until.is_some_and(|u| u > now);
                Ok(QueueItem {
                    case_id,
                    task,
                    waiting_since: time(since),
                    due_by: time(due),
                    claimed_by: claimed_by.filter(|_| running),
                    claim_until: until.filter(|_| running).map(time),
                    flags: serde_json::from_str(&flags)?,
                    version: seq,
                })
            },
        )
        .collect()
}

/// What officers can search cases by.
#[derive(Debug, Clone, Default)]
pub struct CaseSearch {
    pub application_number: Option<String>,
    pub uci: Option<String>,
    pub stage: Option<String>,
    pub after: Option<String>,
    pub limit: u32,
}

/// A case found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FoundCase {
    pub case_id: String,
    pub stage: String,
    pub application_number: Option<String>,
    pub uci: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub version: i64,
}

/// Cases matching every given filter, by case id after the cursor. The application number
/// and UCI are matched by their blind index under `blind` (the view keeps no other form of
/// them to search by); one that is not of its shape matches nothing.
///
/// # Errors
/// [`ReadError`].
pub async fn find_cases(
    db: &Database,
    blind: &prconfirm_privacy::BlindIndexKey,
    s: &CaseSearch,
) -> Result<Vec<FoundCase>, ReadError> {
    // No blind index is this: 64 hex digits never equal it.
    const NO_MATCH: &str = "-";
    let index = |raw: Option<&String>, of: &dyn Fn(&str) -> Option<String>| match raw {
        None => String::new(),
        Some(raw) => of(raw).unwrap_or_else(|| NO_MATCH.to_owned()),
    };
    let application_number = index(s.application_number.as_ref(), &|raw| {
        blind.application_number_text(raw).map(|i| i.to_hex())
    });
    let uci = index(s.uci.as_ref(), &|raw| {
        blind.uci_text(raw).map(|i| i.to_hex())
    });
    let sql = "SELECT case_id, seq, state, stage FROM case_status \
               WHERE ($1 = '' OR application_number = $1) AND ($2 = '' OR uci = $2) \
               AND ($3 = '' OR stage = $3) AND case_id > $4 ORDER BY case_id LIMIT $5";
    let rows: Vec<(String, i64, String, String)> = on_db!(db, |pool| sqlx::query_as(sql)
        .bind(&application_number)
        .bind(&uci)
        .bind(s.stage.as_deref().unwrap_or_default())
        .bind(s.after.as_deref().unwrap_or_default())
        .bind(i64::from(s.limit))
        .fetch_all(pool)
        .await)?;
    rows.into_iter()
        .map(|(case_id, seq, state, stage)| {
            let state: CaseViewState = serde_json::from_str(&state)?;
            let file = state.case.file.as_ref();
            Ok(FoundCase {
                case_id,
                stage,
                application_number: file.map(|f| f.application_number.as_str().to_owned()),
                uci: file.map(|f| f.uci.as_str().to_owned()),
                given_name: file.map(|f| f.given_name.as_str().to_owned()),
                family_name: file.map(|f| f.family_name.as_str().to_owned()),
                version: seq,
            })
        })
        .collect()
}

/// Cases per stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunnelRow {
    pub stage: String,
    pub cases: i64,
}

/// The funnel: how many cases are in each stage now.
///
/// # Errors
/// [`ReadError`].
pub async fn funnel(db: &Database) -> Result<Vec<FunnelRow>, ReadError> {
    let sql = "SELECT stage, cases FROM stats_funnel WHERE cases <> 0 ORDER BY stage";
    let rows: Vec<(String, i64)> = on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(stage, cases)| FunnelRow { stage, cases })
        .collect())
}

/// Time spent in a stage by the cases that have left it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DurationRow {
    pub stage: String,
    pub completed: i64,
    pub median_hours: f64,
    pub p90_hours: f64,
}

/// Median and 90th percentile of the time spent in each stage (nearest rank), each read
/// from the `(stage, duration_ms)` index at its rank.
///
/// # Errors
/// [`ReadError`].
pub async fn durations(db: &Database) -> Result<Vec<DurationRow>, ReadError> {
    let counts_sql =
        "SELECT stage, COUNT(*) FROM stats_stage_durations GROUP BY stage ORDER BY stage";
    let rank_sql = "SELECT duration_ms FROM stats_stage_durations WHERE stage = $1 \
                    ORDER BY duration_ms LIMIT 1 OFFSET $2";
    let counts: Vec<(String, i64)> =
        on_db!(db, |pool| sqlx::query_as(counts_sql).fetch_all(pool).await)?;
    let mut out = Vec::with_capacity(counts.len());
    for (stage, n) in counts {
        let at = |q: f64| {
            // Nearest rank: the smallest value with at least q of the values at or below it.
            let rank = (q * n as f64).ceil() as i64;
            (rank - 1).clamp(0, n - 1)
        };
        let mut pick = Vec::with_capacity(2);
        for q in [0.5, 0.9] {
            let ms: i64 = on_db!(db, |pool| sqlx::query_scalar(rank_sql)
                .bind(&stage)
                .bind(at(q))
                .fetch_one(pool)
                .await)?;
            pick.push(ms as f64 / 3_600_000.0);
        }
        out.push(DurationRow {
            stage,
            completed: n,
            median_hours: pick[0],
            p90_hours: pick[1],
        });
    }
    Ok(out)
}

/// Photo returns: how many were uploaded, accepted and returned, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoReturns {
    pub uploaded: i64,
    pub accepted: i64,
    pub returned: i64,
    /// Returned over decided (accepted + returned); 0 when nothing was decided.
    pub return_rate: f64,
    pub reasons: Vec<ReasonRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReasonRow {
    pub reason: String,
    pub returns: i64,
}

/// # Errors
/// [`ReadError`].
pub async fn photo_returns(db: &Database) -> Result<PhotoReturns, ReadError> {
    let counters: Vec<(String, i64)> = on_db!(db, |pool| sqlx::query_as(
        "SELECT name, value FROM stats_counters"
    )
    .fetch_all(pool)
    .await)?;
    let counter = |name: &str| {
        counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    };
    let reasons: Vec<(String, i64)> = on_db!(db, |pool| sqlx::query_as(
        "SELECT reason, returns FROM stats_photo_returns ORDER BY returns DESC, reason"
    )
    .fetch_all(pool)
    .await)?;
    let (accepted, returned) = (counter("photos_accepted"), counter("photos_returned"));
    let decided = accepted + returned;
    Ok(PhotoReturns {
        uploaded: counter("photos_uploaded"),
        accepted,
        returned,
        return_rate: if decided == 0 {
            0.0
        } else {
            returned as f64 / decided as f64
        },
        reasons: reasons
            .into_iter()
            .map(|(reason, returns)| ReasonRow { reason, returns })
            .collect(),
    })
}

/// Events of a kind on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyRow {
    /// `YYYY-MM-DD`.
    #[cfg_attr(feature = "openapi", schema(format = Date))]
    pub day: String,
    pub kind: String,
    pub events: i64,
}

/// Daily volumes between two days (inclusive, `YYYY-MM-DD`).
///
/// # Errors
/// [`ReadError`].
pub async fn daily(db: &Database, from: &str, to: &str) -> Result<Vec<DailyRow>, ReadError> {
    let sql = "SELECT day, kind, events FROM stats_daily WHERE day >= $1 AND day <= $2 \
               ORDER BY day, kind";
    let rows: Vec<(String, String, i64)> = on_db!(db, |pool| sqlx::query_as(sql)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|(day, kind, events)| DailyRow { day, kind, events })
        .collect())
}

/// An officer's decisions of a kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionRow {
    pub officer: String,
    pub decision: String,
    pub decisions: i64,
}

/// # Errors
/// [`ReadError`].
pub async fn officer_decisions(db: &Database) -> Result<Vec<DecisionRow>, ReadError> {
    let sql = "SELECT officer, decision, decisions FROM stats_officer_decisions \
               ORDER BY officer, decision";
    let rows: Vec<(String, String, i64)> =
        on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(officer, decision, decisions)| DecisionRow {
            officer,
            decision,
            decisions,
        })
        .collect())
}

/// A deadline that fell due: the command it calls for, on the case at `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDeadline {
    pub case_id: String,
    pub kind: crate::models::DeadlineKind,
    pub due_at: DateTime<Utc>,
    /// The case's version when the deadline was computed: the command runs at it or not at
    /// all.
    pub version: u64,
}

/// The key of a deadline among the clock's parked items: `<case>#<kind>@<version>`.
pub fn deadline_key(case_id: &str, kind: crate::models::DeadlineKind, version: u64) -> String {
    format!("{case_id}#{}@{version}", kind.as_str())
}

/// Deadlines due at `now` (and whose window, if they have one, is still open), oldest first,
/// at most `limit`, leaving out those `consumer` has parked (refused by the rules, or waiting
/// for another try): a round never reads the same refused rows again.
///
/// # Errors
/// [`ReadError`].
pub async fn due_deadlines(
    conn: &mut Conn<'_>,
    now: DateTime<Utc>,
    limit: u32,
    consumer: &str,
) -> Result<Vec<DueDeadline>, ReadError> {
    let sql = "SELECT d.case_id, d.kind, d.due_at, d.seq FROM deadlines d \
               WHERE d.due_at <= $1 AND (d.until_at IS NULL OR d.until_at > $1) \
               AND NOT EXISTS (SELECT 1 FROM consumer_parked p \
                   WHERE p.consumer = $3 \
                   AND p.item = d.case_id || '#' || d.kind || '@' || CAST(d.seq AS TEXT) \
                   AND (p.refused OR p.next_attempt_at > $1)) \
               ORDER BY d.due_at, d.case_id, d.kind LIMIT $2";
    let rows: Vec<(String, String, i64, i64)> = on_conn!(conn, |c| sqlx::query_as(sql)
        .bind(now.timestamp_millis())
        .bind(i64::from(limit))
        .bind(consumer)
        .fetch_all(&mut **c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(case_id, kind, due_at, seq)| {
            Some(DueDeadline {
                case_id,
                kind: crate::models::DeadlineKind::parse(&kind)?,
                due_at: time(due_at),
                version: u64::try_from(seq).ok()?,
            })
        })
        .collect())
}

/// Forgets the clock's parked deadlines that the view no longer holds (the case moved on).
///
/// # Errors
/// [`ReadError`].
pub async fn forget_gone_deadlines(conn: &mut Conn<'_>, consumer: &str) -> Result<u64, ReadError> {
    let sql = "DELETE FROM consumer_parked WHERE consumer = $1 AND NOT EXISTS \
               (SELECT 1 FROM deadlines d WHERE consumer_parked.item = \
                d.case_id || '#' || d.kind || '@' || CAST(d.seq AS TEXT))";
    Ok(on_conn!(conn, |c| sqlx::query(sql)
        .bind(consumer)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Every row of a view (or table) as a JSON object, ordered by `order_by`: for comparing a
/// projection with a rebuild of it, row for row. `view` and `order_by` are SQL, not input.
///
/// # Errors
/// [`ReadError`].
pub async fn view_rows(
    db: &Database,
    view: &str,
    order_by: &str,
) -> Result<Vec<serde_json::Value>, ReadError> {
    use serde_json::{json, Value};
    let sql = format!("SELECT * FROM {view} ORDER BY {order_by}");
    match db {
        Database::Postgres(pool) => {
            let sql = format!("SELECT to_jsonb(v)::text FROM ({sql}) v");
            let rows: Vec<String> = sqlx::query_scalar(&sql).fetch_all(pool).await?;
            rows.iter().map(|r| Ok(serde_json::from_str(r)?)).collect()
        }
        Database::Sqlite(pool) => {
            use sqlx::{Column, Row, ValueRef};
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let mut object = serde_json::Map::new();
                    for (i, col) in row.columns().iter().enumerate() {
                        let raw = row.try_get_raw(i)?;
                        let value = if raw.is_null() {
                            Value::Null
                        } else if let Ok(n) = row.try_get::<i64, _>(i) {
                            json!(n)
                        } else {
                            json!(row.try_get::<String, _>(i)?)
                        };
                        object.insert(col.name().to_owned(), value);
                    }
                    Ok(Value::Object(object))
                })
                .collect()
        }
    }
}

/// Every view of every read model with the order that makes a dump comparable.
pub const VIEWS: &[(&str, &str)] = &[
    ("case_status", "case_id"),
    ("officer_queue", "case_id"),
    ("stats_cases", "case_id"),
    ("stats_funnel", "stage"),
    ("stats_stage_durations", "case_id, stage, entered_at"),
    ("stats_photo_returns", "reason"),
    ("stats_counters", "name"),
    ("stats_daily", "day, kind"),
    ("stats_officer_decisions", "officer, decision"),
    ("deadline_clock", "case_id"),
    ("deadlines", "case_id, kind"),
];

/// [`view_rows`] of every view in [`VIEWS`].
///
/// # Errors
/// [`ReadError`].
pub async fn dump_views(db: &Database) -> Result<Vec<Vec<serde_json::Value>>, ReadError> {
    let mut all = Vec::with_capacity(VIEWS.len());
    for (view, key) in VIEWS {
        all.push(view_rows(db, view, key).await?);
    }
    Ok(all)
}
