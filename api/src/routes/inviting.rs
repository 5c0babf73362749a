//! Inviting people: one at a time (`POST /v1/cases`, in [`super::cases`]) or in batches of
//! up to [`MAX_ROWS`] (`POST /v1/invitations/batch`, and `prconfirm invite --file` from the
//! CLI). Each row is invited on its own, by the same rule as a single invitation: a bad row
//! never stops a good one, and a person (application number, UCI) with an open case is not
//! invited again, so sending a file twice creates nothing the second time.
//!
//! **Minors.** An applicant under 18 on the invitation date is invited with `guardian_uci`,
//! the UCI of a family member under the same application number who is 18 or older and was
//! invited before them (in a file: on an earlier row). The minor's case records the
//! guardian's case; the guardian accepts for them and acts on their case from their own
//! session (`/v1/my/dependants/...`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::{self, StreamExt};
use prconfirm_commands::{CommandError, Committed, RequestMeta};
use prconfirm_domain::case::{CaseCommand, CaseFile};
use prconfirm_domain::values::{
    ApplicationNumber, DateOfBirth, Email, Language, PersonName, Uci, ADULT_AGE,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::http::access::{Resource, OFFICER};
use crate::http::error::{ApiError, Problem};
use crate::http::Caller;
use crate::state::AppState;

/// The most rows one batch takes; rows past it are answered `invalid` (`too_many_rows`)
/// and not invited.
pub const MAX_ROWS: usize = 10_000;

/// The largest batch body: [`MAX_ROWS`] rows of up to about 1.6 KB each.
pub const BATCH_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Rows invited at the same time. A batch takes at most this many of the database's
/// connections, so that officers and applicants are served while it runs.
const CONCURRENT_ROWS: usize = 4;

/// Rows read ahead of the invitations: a window's adults are invited before its minors, so a
/// guardian on an earlier row of the same window is found.
const WINDOW: usize = 64;

/// The batch route.
pub fn resource() -> Resource {
    Resource::new().route_with_body_limit(
        routes!(batch),
        &[(Method::POST, OFFICER)],
        BATCH_BODY_LIMIT,
    )
}

/// One person to invite: the body of `POST /v1/cases`, a line of an NDJSON batch, a row of
/// a CSV batch.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRow {
    pub application_number: ApplicationNumber,
    pub uci: Uci,
    pub given_name: PersonName,
    pub family_name: PersonName,
    /// `YYYY-MM-DD`, on or after 1900-01-01 and not in the future.
    #[schema(value_type = String, pattern = "^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub date_of_birth: NaiveDate,
    pub email: Email,
    pub language: Language,
    /// When the invitation lapses; 30 days from now by default.
    #[serde(default)]
    pub respond_by: Option<DateTime<Utc>>,
    /// Required for an applicant under 18 on the invitation date, refused for anyone else:
    /// the UCI of the adult family member (same application number, invited before) who acts
    /// for them.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub guardian_uci: Option<Uci>,
}

/// What inviting one person did.
#[derive(Debug)]
pub enum Outcome {
    /// A new case.
    Created(Committed),
    /// The person already has an open case under this application: this one.
    Exists(String),
}

/// Invites the person `row` names, as `meta`'s actor.
///
/// # Errors
/// [`ApiError::Invalid`] for a value or a family rule the row breaks (a minor without a
/// guardian, a guardian not invited or not of age); storage errors.
pub async fn invite(
    state: &AppState,
    meta: &RequestMeta,
    row: InviteRow,
) -> Result<Outcome, ApiError> {
    let now = state.cases.clock().now();
    let today = now.date_naive();
    let file = CaseFile {
        application_number: row.application_number,
        uci: row.uci,
        given_name: row.given_name,
        family_name: row.family_name,
        date_of_birth: DateOfBirth::parse(row.date_of_birth, today)?,
        email: row.email,
        language: row.language,
    };
    let respond_by = row
        .respond_by
        .unwrap_or(now + state.settings.invitation_valid_for);
    if let Some(existing) = state.invited_case(&file).await? {
        return Ok(Outcome::Exists(existing));
    }
    let guardian_case = guardian_case(state, &file, row.guardian_uci.as_ref(), today).await?;
    let case_id = uuid::Uuid::new_v4().to_string();
    state.park_invitation(&case_id, &file).await?;
    let person = file.clone();
    let command = CaseCommand::Invite {
        file,
        respond_by,
        guardian_case,
    };
    match state.cases.execute(&case_id, command, meta).await {
        Ok(committed) => Ok(Outcome::Created(committed)),
        // Another invitation of the same person won the race for the person's claim.
        Err(CommandError::Conflict) => match state.invited_case(&person).await? {
            Some(existing) => Ok(Outcome::Exists(existing)),
            None => Err(ApiError::ConcurrentUpdate),
        },
        Err(e) => Err(e.into()),
    }
}

fn family_rule(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        code,
        detail: detail.into(),
    }
}

/// The guardian's open case for a minor's invitation; `None` for an adult's. A minor needs
/// one; an adult may not have one.
async fn guardian_case(
    state: &AppState,
    file: &CaseFile,
    guardian_uci: Option<&Uci>,
    today: NaiveDate,
) -> Result<Option<String>, ApiError> {
    let minor = file.date_of_birth.is_minor_on(today);
    let Some(guardian_uci) = guardian_uci else {
        if minor {
            return Err(family_rule(
                "guardian_required",
                format!(
                    "the applicant is under {ADULT_AGE}: give guardian_uci, the UCI of an adult \
                     family member invited under the same application"
                ),
            ));
        }
        return Ok(None);
    };
    if !minor {
        return Err(family_rule(
            "guardian_not_needed",
            format!("guardian_uci is only for applicants under {ADULT_AGE}"),
        ));
    }
    if guardian_uci == &file.uci {
        return Err(family_rule(
            "guardian_not_invited",
            "the guardian must be another family member",
        ));
    }
    let guardian_file = CaseFile {
        uci: guardian_uci.clone(),
        ..file.clone()
    };
    let Some(guardian) = state.invited_case(&guardian_file).await? else {
        return Err(family_rule(
            "guardian_not_invited",
            "no open case under this application has that guardian_uci: invite the guardian \
             first (in a batch, on an earlier row)",
        ));
    };
    let guardian_case = state
        .cases
        .load(&guardian)
        .await?
        .ok_or(ApiError::ConcurrentUpdate)?
        .case;
    let of_age = guardian_case
        .file
        .as_ref()
        .is_some_and(|f| !f.date_of_birth.is_minor_on(today));
    if !of_age || guardian_case.guardian_case.is_some() {
        return Err(family_rule(
            "guardian_is_minor",
            format!("the guardian must be {ADULT_AGE} or older"),
        ));
    }
    Ok(Some(guardian))
}

/// How one row of a batch went.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowResult {
    /// The row's number: the line of an NDJSON body, the record of a CSV body (1 is the first
    /// record after the header).
    pub row: usize,
    /// `created`, `exists` (the person already has an open case: `case_id`), `invalid`
    /// (`code` and `error` say why; nothing was recorded for the row).
    #[schema(pattern = "^(created|exists|invalid)$")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// For `invalid`: the error code, as a single call's problem would give it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RowResult {
    fn invalid(row: usize, code: &'static str, error: String) -> Self {
        Self {
            row,
            status: "invalid",
            case_id: None,
            code: Some(code),
            error: Some(error),
        }
    }
}

/// The batch's answer: one result per row, in the rows' order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAnswer {
    pub rows: Vec<RowResult>,
}

/// A row as read from the body: the person, or why the row could not be read.
pub type ReadRow = (usize, Result<InviteRow, (&'static str, String)>);

/// The body's format.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    /// The format a `Content-Type` names (parameters such as `charset` aside).
    pub fn of(content_type: &str) -> Option<Self> {
        match content_type.split(';').next().map(str::trim) {
            Some("text/csv") => Some(Self::Csv),
            Some("application/x-ndjson") => Some(Self::Ndjson),
            _ => None,
        }
    }
}

/// The columns a CSV batch may have; the first seven are required.
pub const CSV_COLUMNS: [&str; 9] = [
    "application_number",
    "uci",
    "given_name",
    "family_name",
    "date_of_birth",
    "email",
    "language",
    "respond_by",
    "guardian_uci",
];

/// The rows of `body`, read one at a time (nothing is decoded ahead of its window).
///
/// # Errors
/// [`ApiError::Invalid`] when a CSV body's header is missing a required column or names an
/// unknown one: no row can be read then.
pub fn rows(
    body: &[u8],
    format: Format,
) -> Result<Box<dyn Iterator<Item = ReadRow> + Send + '_>, ApiError> {
    match format {
        Format::Ndjson => Ok(Box::new(ndjson_rows(body))),
        Format::Csv => csv_rows(body),
    }
}

fn ndjson_rows(body: &[u8]) -> impl Iterator<Item = ReadRow> + '_ {
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(row, line)| {
            let read = serde_json::from_slice::<InviteRow>(line)
                .map_err(|e| ("invalid_row", e.to_string()));
            (row, read)
        })
}

fn csv_rows(body: &[u8]) -> Result<Box<dyn Iterator<Item = ReadRow> + Send + '_>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let header = reader.headers().map_err(|e| ApiError::Invalid {
        code: "invalid_header",
        detail: format!("the CSV header cannot be read: {e}"),
    })?;
    if let Some(unknown) = header.iter().find(|c| !CSV_COLUMNS.contains(c)) {
        return Err(ApiError::Invalid {
            code: "invalid_header",
            detail: format!(
                "unknown column {unknown:?}; the columns are {}",
                CSV_COLUMNS.join(",")
            ),
        });
    }
    if let Some(missing) = CSV_COLUMNS[..7]
        .iter()
        .find(|c| !header.iter().any(|h| h == **c))
    {
        return Err(ApiError::Invalid {
            code: "invalid_header",
            detail: format!("the header has no column {missing}"),
        });
    }
    let header = header.clone();
    Ok(Box::new(reader.into_records().enumerate().map(
        move |(i, record)| {
            let read = record
                .map_err(|e| ("invalid_row", e.to_string()))
                .and_then(|record| {
                    // Empty optional cells are absent values, not empty strings.
                    let mut object = serde_json::Map::new();
                    for (column, cell) in header.iter().zip(record.iter()) {
                        if !cell.is_empty() {
                            object.insert(column.to_owned(), cell.into());
                        }
                    }
                    serde_json::from_value::<InviteRow>(object.into())
                        .map_err(|e| ("invalid_row", e.to_string()))
                });
            (i + 1, read)
        },
    )))
}

/// Invites every row, [`CONCURRENT_ROWS`] at a time, calling `done` with each result in the
/// rows' order. Rows past [`MAX_ROWS`] are answered `too_many_rows`, unread.
pub async fn invite_all(
    state: &AppState,
    meta: &RequestMeta,
    rows: impl Iterator<Item = ReadRow> + Send,
    mut done: impl FnMut(RowResult) + Send,
) {
    let mut rows = rows.peekable();
    let mut seen = 0;
    while rows.peek().is_some() {
        let window: Vec<ReadRow> = rows.by_ref().take(WINDOW).collect();
        // Adults first, then the window's minors, so that a guardian on an earlier row of
        // the same window is already invited when their minor's row is.
        let (minors, adults): (Vec<_>, Vec<_>) = window
            .into_iter()
            .partition(|(_, r)| matches!(r, Ok(row) if row.guardian_uci.is_some()));
        let mut results = Vec::with_capacity(WINDOW);
        for phase in [adults, minors] {
            let mut pending = Vec::with_capacity(phase.len());
            for (row, read) in phase {
                seen += 1;
                pending.push(invite_row(state, meta, row, read, seen > MAX_ROWS));
            }
            let phase_results: Vec<RowResult> = stream::iter(pending)
                .buffered(CONCURRENT_ROWS)
                .collect()
                .await;
            results.extend(phase_results);
        }
        results.sort_by_key(|r| r.row);
        results.into_iter().for_each(&mut done);
    }
}

async fn invite_row(
    state: &AppState,
    meta: &RequestMeta,
    row: usize,
    read: Result<InviteRow, (&'static str, String)>,
    over_limit: bool,
) -> RowResult {
    if over_limit {
        return RowResult::invalid(
            row,
            "too_many_rows",
            format!("a batch takes at most {MAX_ROWS} rows"),
        );
    }
    let person = match read {
        Ok(person) => person,
        Err((code, error)) => return RowResult::invalid(row, code, error),
    };
    match invite(state, meta, person).await {
        Ok(Outcome::Created(committed)) => RowResult {
            row,
            status: "created",
            case_id: Some(committed.case_id),
            code: None,
            error: None,
        },
        Ok(Outcome::Exists(case_id)) => RowResult {
            row,
            status: "exists",
            case_id: Some(case_id),
            code: None,
            error: None,
        },
        Err(e) => {
            if matches!(e.status(), s if s.is_server_error()) {
                tracing::warn!(row, error = %e, "a batch row could not be invited");
            }
            RowResult::invalid(row, e.code(), e.to_string())
        }
    }
}

/// Invites a batch: `text/csv` with a header row (columns `application_number, uci,
/// given_name, family_name, date_of_birth, email, language` and optional `respond_by,
/// guardian_uci`, in any order) or `application/x-ndjson` (one `POST /v1/cases` body a line,
/// with optional `guardian_uci`). At most 10,000 rows. Each row is invited on its own: the
/// answer says for each whether it was `created`, already `exists` (the same file sent again
/// creates nothing), or is `invalid` and why. A minor's guardian must be on an earlier row
/// (or invited before). Not taken with an `Idempotency-Key`: the batch is idempotent by its
/// rows' people.
#[utoipa::path(post, path = "/v1/invitations/batch", tag = "officers",
    request_body(content((String = "text/csv"), (String = "application/x-ndjson")),
        description = "up to 10,000 rows; at most 16 MiB"),
    responses((status = 200, body = BatchAnswer, description = "one result per row, in order"),
        (status = 415, body = Problem, content_type = "application/problem+json",
            description = "neither text/csv nor application/x-ndjson"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "`invalid_header`: the CSV header is not one; or an `Idempotency-Key` was sent")))]
async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<BatchAnswer>), ApiError> {
    let format = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::of)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "send the batch as text/csv or application/x-ndjson".into(),
            )
        })?;
    if headers.contains_key("idempotency-key") {
        return Err(ApiError::Invalid {
            code: "idempotency_key_not_taken",
            detail: "a batch is idempotent by its rows (application number and UCI): send it \
                     again without an Idempotency-Key"
                .into(),
        });
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(BATCH_BODY_LIMIT)
        } else {
            ApiError::Malformed(e.body_text())
        }
    })?;
    let rows = rows(&body, format)?;
    let meta = caller.meta()?;
    let mut results = Vec::new();
    invite_all(&state, &meta, rows, |r| results.push(r)).await;
    Ok((StatusCode::OK, Json(BatchAnswer { rows: results })))
}
