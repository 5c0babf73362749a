//! The OpenAPI 3.1 document served at `/openapi.json`: every route, body and error, written
//! beside the route table so that a test can hold the two to each other.

#![allow(dead_code, missing_debug_implementations)]

mod audit;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// An error: `application/problem+json`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    /// Stable machine-readable code, e.g. `invalid_transition`.
    code: String,
    correlation_id: Option<String>,
    /// For 409 `invalid_transition`: the rule the step broke.
    reason: Option<String>,
}

/// The answer to a command.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CommandAnswer {
    /// The case's version after the command (also the `ETag`).
    version: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Invited {
    case_id: String,
    version: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Approved {
    document_number: String,
    version: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PhotoQuality {
    format: String,
    width: u32,
    height: u32,
    bytes: u64,
    /// The pre-check's flags, advice that never refuses the photo: `too_dark`,
    /// `background_not_white`, `features_not_visible`, `glare`, `wrong_dimensions`.
    flags: Vec<String>,
    /// What the pre-check measured; null for a photo stored before the pre-check existed.
    measurements: Option<PhotoMeasurements>,
}

/// The pre-check's measurements: luma levels 0-255 on the photo shrunk to 360 x 504 at most.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PhotoMeasurements {
    width: u32,
    height: u32,
    brightness: u8,
    face_brightness: u8,
    face_highlights_permille: u16,
    face_contrast: u8,
    sharpness: u32,
    background_brightness: u8,
    background_spread: u8,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PhotoAnswer {
    version: u64,
    quality: PhotoQuality,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    /// One or two capital letters and 9 digits, e.g. `E001234567`.
    #[schema(pattern = "^[A-Za-z]{1,2}[0-9]{9}$")]
    application_number: String,
    /// 8 or 10 digits; hyphens and spaces allowed.
    uci: String,
    #[schema(min_length = 1, max_length = 100)]
    given_name: String,
    #[schema(min_length = 1, max_length = 100)]
    family_name: String,
    /// Not in the future.
    date_of_birth: NaiveDate,
    #[schema(max_length = 254)]
    email: String,
    #[schema(pattern = "^(en|fr)$")]
    language: String,
    /// Defaults to 30 days from now.
    respond_by: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct InvitationAnswer {
    case_id: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    username: String,
    #[schema(max_length = 1024)]
    password: String,
    /// Staff only, and required for them: the current code of their second factor (TOTP,
    /// RFC 6238: SHA-1, 6 digits, 30 s steps), each code accepted once. Without a valid,
    /// unused code of the current or previous step: 401, the same answer as a wrong
    /// password. Applicants send none.
    #[schema(pattern = "^[0-9]{6}$")]
    otp: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Session {
    token: String,
    expires_at: DateTime<Utc>,
    must_change_password: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    /// 12 characters to 1 KiB.
    #[schema(min_length = 12)]
    new_password: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Presence {
    in_canada: bool,
}

/// A Canadian address; the postal code must belong to the province.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[schema(min_length = 1, max_length = 100)]
    line1: String,
    line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    city: String,
    /// AB BC MB NB NL NS NT NU ON PE QC SK YT.
    province: String,
    /// `A1A 1A1`.
    postal_code: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Addresses {
    /// No post-office box.
    residential: Address,
    /// A post-office box is allowed.
    mailing: Option<Address>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Details {
    #[schema(min_length = 1, max_length = 2000)]
    details: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// What the corrected eCoPR fixes.
    #[schema(min_length = 1, max_length = 2000)]
    correction: String,
}

/// Whether a document is genuine. A wrong code, or a number no document has, answers only
/// `{valid: false, document_number, status: "unknown"}`: nothing the caller did not send.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Verification {
    /// True only for the right code on the document in force.
    valid: bool,
    document_number: String,
    /// `current`, `superseded` (an amendment replaced it) or `unknown` (wrong code or no
    /// such document: the two are not told apart).
    #[schema(pattern = "^(current|superseded|unknown)$")]
    status: String,
    /// With the right code only.
    issued_on: Option<NaiveDate>,
    /// With the right code on a superseded document: the number of the one in force.
    replaced_by: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    #[schema(min_length = 1, max_length = 2000)]
    reason: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Return,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    TooDark,
    BackgroundNotWhite,
    FeaturesNotVisible,
    Glare,
    WrongDimensions,
    FileTooLarge,
    Other,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoReview {
    decision: Decision,
    /// Required to return; `other` also needs a note.
    reason: Option<ReturnReason>,
    note: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PhotoStatus {
    /// missing, in_review, returned, accepted.
    status: String,
    return_reason: Option<ReturnReason>,
    return_note: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EcoprStatus {
    /// Issued and still within its download window.
    available: bool,
    document_number: Option<String>,
    issued_on: Option<NaiveDate>,
    /// Last day the portal serves the document.
    download_by: Option<NaiveDate>,
}

/// The applicant's view of their case.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CaseStatus {
    case_id: String,
    stage: String,
    /// What to do next, as a code (`declare_presence`, `upload_photo`, ...).
    next_step: String,
    /// The same in plain words, in the applicant's language.
    next_step_text: String,
    photo: PhotoStatus,
    ecopr: EcoprStatus,
    version: u64,
}

/// The case in full, for officers.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CaseView {
    case_id: String,
    version: u64,
    stage: String,
    /// The aggregate's state: file, username, stage data, claim.
    case: serde_json::Value,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Health {
    status: String,
}

/// An open task in the officers' queue.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct QueueItem {
    case_id: String,
    /// `photo_review`, `final_review`, `stale_invitation`, `amendment_request`.
    task: String,
    waiting_since: DateTime<Utc>,
    due_by: DateTime<Utc>,
    /// The officer holding the case, while the lease runs.
    claimed_by: Option<String>,
    claim_until: Option<DateTime<Utc>>,
    /// Photo quality flags, named like the return reasons.
    flags: Vec<String>,
    /// The case's version this row reflects.
    version: i64,
}

/// A case found by a search.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FoundCase {
    case_id: String,
    stage: String,
    application_number: Option<String>,
    uci: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    version: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FunnelRow {
    stage: String,
    cases: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DurationRow {
    stage: String,
    /// Cases that have left the stage.
    completed: i64,
    median_hours: f64,
    p90_hours: f64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ReasonRow {
    reason: String,
    returns: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PhotoReturns {
    uploaded: i64,
    accepted: i64,
    returned: i64,
    /// returned / (accepted + returned).
    return_rate: f64,
    reasons: Vec<ReasonRow>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DailyRow {
    day: NaiveDate,
    kind: String,
    events: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DecisionRow {
    officer: String,
    decision: String,
    decisions: i64,
}

#[utoipa::path(get, path = "/v1/queue", tag = "officers", security(("bearer" = [])),
    params(
        ("task" = Option<String>, Query, description = "photo_review, final_review, stale_invitation, amendment_request"),
        ("claimed" = Option<bool>, Query, description = "true: lease running; false: free"),
        ("claimed_by" = Option<String>, Query, description = "only this officer's cases"),
        ("limit" = Option<u32>, Query, description = "1 to 500, default 50"),
        ("cursor" = Option<String>, Query, description = "from the previous page's Next-Cursor"),
        ("case_id" = Option<String>, Query, description = "with min_version: the case to wait for"),
        ("min_version" = Option<u64>, Query, description = "wait until the view reflects this version of case_id; 422 if the case has no such version")),
    responses((status = 200, body = Vec<QueueItem>,
        headers(("Link" = String, description = "rel=next"), ("Next-Cursor" = String)))))]
fn queue() {}

#[utoipa::path(get, path = "/v1/cases", tag = "officers", security(("bearer" = [])),
    params(("application_number" = Option<String>, Query), ("uci" = Option<String>, Query),
        ("stage" = Option<String>, Query), ("limit" = Option<u32>, Query),
        ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Vec<FoundCase>,
        headers(("Link" = String, description = "rel=next"), ("Next-Cursor" = String)))))]
fn search() {}

#[utoipa::path(get, path = "/v1/stats/funnel", tag = "analysts", security(("bearer" = [])),
    responses((status = 200, content((Vec<FunnelRow> = "application/json"), (String = "text/csv")))))]
fn stats_funnel() {}

#[utoipa::path(get, path = "/v1/stats/durations", tag = "analysts", security(("bearer" = [])),
    responses((status = 200, content((Vec<DurationRow> = "application/json"), (String = "text/csv")))))]
fn stats_durations() {}

#[utoipa::path(get, path = "/v1/stats/photo-returns", tag = "analysts", security(("bearer" = [])),
    responses((status = 200, body = PhotoReturns, description = "CSV: one line per reason")))]
fn stats_photo_returns() {}

#[utoipa::path(get, path = "/v1/stats/daily", tag = "analysts", security(("bearer" = [])),
    params(("from" = Option<NaiveDate>, Query), ("to" = Option<NaiveDate>, Query)),
    responses((status = 200, content((Vec<DailyRow> = "application/json"), (String = "text/csv")))))]
fn stats_daily() {}

#[utoipa::path(get, path = "/v1/stats/officers", tag = "analysts", security(("bearer" = [])),
    responses((status = 200, content((Vec<DecisionRow> = "application/json"), (String = "text/csv")))))]
fn stats_officers() {}

#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health)))]
fn healthz() {}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "`{status}`: ready or degraded; operators (an operator network, or the operator token) also get the database and each consumer's detail", body = Health),
        (status = 503, body = Health)))]
fn readyz() {}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain"),
        (status = 403, description = "not from an operator network and no operator token",
            body = Problem, content_type = "application/problem+json")))]
fn metrics() {}

#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = SignIn,
    responses((status = 201, body = Session),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
fn sign_in() {}

#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("bearer" = [])),
    responses((status = 204, description = "signed out"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
fn sign_out() {}

#[utoipa::path(put, path = "/v1/me/password", tag = "sessions", request_body = ChangePassword,
    security(("bearer" = [])),
    responses((status = 204, description = "changed; other sessions revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
fn change_password() {}

#[utoipa::path(post, path = "/v1/invitations/{code}/acceptance", tag = "invitations",
    params(("code" = String, Path)),
    responses((status = 200, body = InvitationAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
fn accept() {}

#[utoipa::path(post, path = "/v1/invitations/{code}/decline", tag = "invitations",
    params(("code" = String, Path)),
    responses((status = 200, body = InvitationAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
fn decline() {}

#[utoipa::path(get, path = "/v1/my/case", tag = "applicant", security(("bearer" = [])),
    params(("min_version" = Option<u64>, Query, description = "wait (bounded) until the view reflects this version; 503 view_behind if not; 422 if the case has no such version")),
    responses((status = 200, body = CaseStatus),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
fn my_case() {}

#[utoipa::path(put, path = "/v1/my/case/presence", tag = "applicant", request_body = Presence,
    security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandAnswer),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
fn presence() {}

#[utoipa::path(put, path = "/v1/my/case/address", tag = "applicant", request_body = Addresses,
    security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandAnswer),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
fn address() {}

#[utoipa::path(put, path = "/v1/my/case/photo", tag = "applicant",
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PhotoAnswer),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
fn photo() {}

#[utoipa::path(post, path = "/v1/my/case/amendment-request", tag = "applicant",
    request_body = Details, security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
fn amendment_request() {}

#[utoipa::path(get, path = "/v1/my/case/ecopr", tag = "applicant", security(("bearer" = [])),
    responses((status = 200, description = "the eCoPR in force, as an attachment `eCoPR-<number>.pdf`",
            content_type = "application/pdf"),
        (status = 404, description = "PR not granted", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "download_expired: more than 30 days after issue", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "document_pending: issued, the PDF is being made; Retry-After",
            body = Problem, content_type = "application/problem+json")))]
fn ecopr_download() {}

#[utoipa::path(get, path = "/v1/documents/{document_number}/verification", tag = "documents",
    params(("document_number" = String, Path, description = "as printed, e.g. PR0000000042"),
        ("code" = String, Query, description = "the verification code printed on the document, e.g. 7K3M-9XQ2-B8TD-4HWN")),
    responses((status = 200, body = Verification),
        (status = 422, description = "invalid_query: no code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts: 5 wrong codes in 15 minutes for this document or from this address; Retry-After",
            body = Problem, content_type = "application/problem+json")))]
fn document_verification() {}

#[utoipa::path(post, path = "/v1/cases", tag = "officers", request_body = Invite,
    security(("bearer" = [])), params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Invited),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
fn invite() {}

#[utoipa::path(get, path = "/v1/cases/{id}", tag = "officers", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CaseView),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
fn case() {}

#[utoipa::path(get, path = "/v1/cases/{id}/photo", tag = "officers", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "the stored photo", content_type = "image/jpeg"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
fn case_photo() {}

#[utoipa::path(post, path = "/v1/cases/{id}/claim", tag = "officers", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = CommandAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
fn claim() {}

#[utoipa::path(delete, path = "/v1/cases/{id}/claim", tag = "officers", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CommandAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
fn release() {}

#[utoipa::path(post, path = "/v1/cases/{id}/photo-review", tag = "officers",
    request_body = PhotoReview, security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
fn photo_review() {}

#[utoipa::path(post, path = "/v1/cases/{id}/approval", tag = "officers", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Approved),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
fn approval() {}

#[utoipa::path(post, path = "/v1/cases/{id}/ecopr-amendment", tag = "officers",
    request_body = Correction, security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "a corrected eCoPR under a new number; the previous one is superseded",
            body = Approved),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
fn ecopr_amendment() {}

#[utoipa::path(post, path = "/v1/cases/{id}/referral", tag = "officers", request_body = Reason,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CommandAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
fn referral() {}

#[utoipa::path(post, path = "/v1/cases/{id}/withdrawal", tag = "officers", request_body = Reason,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CommandAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
fn withdrawal() {}

#[utoipa::path(post, path = "/v1/cases/{id}/pr-card-mailing", tag = "officers",
    security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "the card, ordered after the grant, is recorded as mailed",
            body = CommandAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
fn pr_card_mailing() {}

#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "this document", content_type = "application/json")))]
fn openapi_json() {}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Errors any operation can answer, documented on every operation that does not list them:
/// a problem document each.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let common: &[(&str, &str, bool)] = &[
            (
                "400",
                "malformed body; a NUL byte (%00) in the path or query; a path that is not UTF-8",
                false,
            ),
            ("401", "no live session", true),
            ("403", "role not allowed, or temporary password", true),
            ("404", "no such resource", false),
            (
                "405",
                "method not served on this path; Allow lists those that are",
                false,
            ),
            ("409", "not ready for this step, or a lost race", false),
            ("412", "If-Match names an old version", false),
            (
                "413",
                "body too large (refused from Content-Length before it is read)",
                false,
            ),
            ("415", "wrong content type", false),
            ("422", "a value out of the rules", false),
            ("429", "too many attempts", false),
            ("500", "internal error (nothing internal shown)", false),
            ("501", "a method no HTTP standard defines", false),
            ("503", "storage briefly unavailable; Retry-After", false),
        ];
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                for (code, description, needs_auth) in common {
                    if *needs_auth && !secured {
                        continue;
                    }
                    op.responses
                        .responses
                        .entry((*code).to_owned())
                        .or_insert_with(|| problem(description).into());
                }
            }
        }
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "prconfirm", description = "Confirming permanent residence online: the case back end."),
    paths(healthz, readyz, metrics, openapi_json, sign_in, sign_out, change_password, accept,
        decline, my_case, presence, address, photo, amendment_request, ecopr_download,
        document_verification, invite, case, case_photo, claim, release, photo_review, approval,
        ecopr_amendment, referral, withdrawal, pr_card_mailing, queue, search, stats_funnel,
        stats_durations, stats_photo_returns, stats_daily, stats_officers),
    nest((path = "/v1/audit", api = audit::AuditApi)),
    modifiers(&BearerAuth, &CommonErrors),
    components(schemas(Problem))
)]
pub struct ApiDoc;
