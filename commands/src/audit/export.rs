//! Raw events with their hashes, one JSON object per line, for verifiers outside the system
//! (`scripts/verify_export.py` re-checks the chains from `docs/audit.md` alone).

use std::io::Write;

use cqrs_es::Aggregate;
use prconfirm_domain::case::Case;
use prconfirm_migrations::Database;
use serde::Serialize;
use serde_json::Value;

use super::rows::{self, Item, Scope};
use super::{AuditError, Cursor};

/// One exported line: the event exactly as stored (payload never upcast; metadata with
/// `hash` and `prev_hash`) and where it stands in the feed.
#[derive(Debug, Serialize)]
pub struct ExportedEvent<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub position: i64,
    /// The feed cursor `tx.position`: with it a verifier can fold the checkpoints' root.
    pub cursor: Cursor,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a Value,
    pub metadata: &'a Value,
}

/// Writes every event (or only those of the case `case_id`) to `out` in feed order, one JSON
/// object per line; returns how many.
///
/// # Errors
/// [`AuditError::Database`], [`AuditError::Write`], or [`AuditError::Unreadable`] for a row
/// whose JSON does not parse (it could not be exported faithfully).
pub async fn export_events(
    db: &Database,
    case_id: Option<&str>,
    mut out: impl Write + Send,
) -> Result<u64, AuditError> {
    let scope = match case_id {
        Some(id) => Scope::Aggregate(<Case as Aggregate>::TYPE, id),
        None => Scope::All,
    };
    let mut written = 0u64;
    rows::scan(db, scope, |item| {
        let Item::Event(e) = item else {
            return Ok(());
        };
        let parse = |what: &str, text: &str| {
            serde_json::from_str::<Value>(text).map_err(|err| AuditError::Unreadable {
                cursor: e.cursor,
                detail: format!("{what}: {err}"),
            })
        };
        let (payload, metadata) = (parse("payload", e.payload)?, parse("metadata", e.metadata)?);
        let line = ExportedEvent {
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            position: e.cursor.position,
            cursor: e.cursor,
            event_type: e.event_type,
            event_version: e.event_version,
            payload: &payload,
            metadata: &metadata,
        };
        serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        written += 1;
        Ok(())
    })
    .await?;
    out.flush()?;
    Ok(written)
}
