//! A case as it stood at a past moment: its events replayed through the aggregate's own
//! `apply`, from the first up to a version or a time.
//!
//! A time cuts the case at its first event that occurred after it (`occurred_at` of the
//! metadata, the command's time, which the hash covers): the state is always that of a prefix
//! of the case's events, which is a state the case really had.

use chrono::{DateTime, Utc};
use prconfirm_domain::case::Case;

use super::read::parse_time;
use crate::service::{CaseService, CommandError};

/// Where to stop replaying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Every event that occurred at or before this time.
    AsOf(DateTime<Utc>),
    /// The first `n` events.
    Version(u64),
}

/// A case as it stood at a cut.
#[derive(Debug, Clone, PartialEq)]
pub struct PastCase {
    pub case: Case,
    /// How many events were applied (the case's version then); 0 if the cut comes before the
    /// case's first event.
    pub version: u64,
    /// When the last event applied occurred.
    pub last_event_at: Option<DateTime<Utc>>,
}

/// Replays the case `case_id` up to `cut`; `None` if the case has no events at all. A version
/// beyond the case's last gives the case as it is now: compare `version` with what was asked.
///
/// # Errors
/// As [`CaseService::history`]; [`CommandError::Corrupt`] if, cutting by time, an event has no
/// readable `occurred_at`.
pub async fn case_at(
    service: &CaseService,
    case_id: &str,
    cut: Cut,
) -> Result<Option<PastCase>, CommandError> {
    let history = service.history(case_id).await?;
    if history.is_empty() {
        return Ok(None);
    }
    let mut past = PastCase {
        case: Case::default(),
        version: 0,
        last_event_at: None,
    };
    for envelope in history {
        let at = envelope
            .metadata
            .get(crate::metadata::keys::OCCURRED_AT)
            .and_then(|t| parse_time(t));
        let included = match cut {
            Cut::Version(n) => past.version < n,
            Cut::AsOf(t) => {
                let at = at.ok_or_else(|| {
                    CommandError::Corrupt(
                        format!(
                            "event {} of case {case_id} has no readable occurred_at",
                            envelope.sequence
                        )
                        .into(),
                    )
                })?;
                at <= t
            }
        };
        if !included {
            break;
        }
        past.case.apply_event(envelope.payload);
        past.version += 1;
        past.last_event_at = at;
    }
    Ok(Some(past))
}
