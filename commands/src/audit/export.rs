//! Raw events with their hashes, one JSON object per line, for verifiers outside the system
//! (`scripts/verify_export.py` re-checks the chains from `docs/audit.md` alone).
//!
//! An export may be limited to a time window. A window never cuts a case's chain in the
//! middle of what it exports: per case it starts at the first event that occurred at or after
//! `from` and stops before the first event that occurred at or after `to` (times are the
//! `occurred_at` of the metadata, which the hash covers). What it exports of a case is one
//! unbroken run of its chain, anchored by the `prev_hash` of its first event.

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use prconfirm_domain::case::Case;
use prconfirm_migrations::Database;
use serde::Serialize;
use serde_json::Value;

use super::error::AuditError;
use super::read::occurred_at;
use super::rows::{self, Item, Scope};
use prconfirm_migrations::FeedCursor as Cursor;

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

/// A time window of an export: `from` included, `to` not; either may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Window {
    /// No limit: every event.
    pub const ALL: Self = Self {
        from: None,
        to: None,
    };
}

/// Where one case stands in a windowed export.
#[derive(Debug, Clone, Copy, Default)]
struct InWindow {
    started: bool,
    ended: bool,
}

impl InWindow {
    /// Whether the case's next event (in sequence order), which occurred at `at`, is
    /// exported. An event without a readable time stays with its neighbours: inside a run
    /// that has started, it is exported (a verifier then sees what is wrong with it).
    fn admits(&mut self, window: &Window, at: Option<DateTime<Utc>>) -> bool {
        if self.ended {
            return false;
        }
        if let (Some(to), Some(at)) = (window.to, at) {
            if at >= to {
                self.ended = true;
                return false;
            }
        }
        if !self.started {
            self.started = match (window.from, at) {
                (None, _) => true,
                (Some(from), Some(at)) => at >= from,
                (Some(_), None) => false,
            };
        }
        self.started
    }
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
    out: impl Write + Send,
) -> Result<u64, AuditError> {
    export_window(db, case_id, Window::ALL, out).await
}

/// As [`export_events`], limited to the events of `window` (see the module's documentation:
/// per case, one unbroken run of its chain).
///
/// # Errors
/// As [`export_events`].
pub async fn export_window(
    db: &Database,
    case_id: Option<&str>,
    window: Window,
    mut out: impl Write + Send,
) -> Result<u64, AuditError> {
    let scope = match case_id {
        Some(id) => Scope::Aggregate(<Case as Aggregate>::TYPE, id),
        None => Scope::All,
    };
    let mut written = 0u64;
    let mut cases: HashMap<(String, String), InWindow> = HashMap::new();
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
        if window != Window::ALL {
            // Feed order keeps each case's events in sequence order.
            let case = cases
                .entry((e.aggregate_type.to_owned(), e.aggregate_id.to_owned()))
                .or_default();
            if !case.admits(&window, occurred_at(&metadata)) {
                return Ok(());
            }
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2026, 6, 1, hour, 0, 0).unwrap())
    }

    fn admitted(window: Window, times: &[Option<DateTime<Utc>>]) -> Vec<bool> {
        let mut case = InWindow::default();
        times.iter().map(|t| case.admits(&window, *t)).collect()
    }

    #[test]
    fn a_window_takes_one_unbroken_run_of_each_case() {
        let window = Window {
            from: at(10),
            to: at(14),
        };
        assert_eq!(
            admitted(window, &[at(9), at(10), at(12), at(14), at(15)]),
            [false, true, true, false, false]
        );
        // A time out of order inside the run does not cut it; one after `to` ends it.
        assert_eq!(
            admitted(window, &[at(11), at(9), None, at(13), at(16), at(12)]),
            [true, true, true, true, false, false]
        );
        // Before the run starts, an event without a time is left out.
        assert_eq!(admitted(window, &[None, at(12)]), [false, true]);
        assert_eq!(admitted(Window::ALL, &[None, at(1)]), [true, true]);
    }
}
