//! Verification: recompute every chain and every checkpoint from the raw rows, and name the
//! first bad event.
//!
//! One pass over the log in feed order (see `rows`), keeping per case the next expected
//! sequence and the last hash. Payload and metadata are canonicalized straight from the JSON
//! text the database returns. For each event, in this order of precedence:
//! 1. payload and metadata parse and have a canonical form;
//! 2. its metadata carries `prev_hash` and `hash`;
//! 3. its sequence is the next of its case (1 for a case's first event);
//! 4. `prev_hash` is the case's previous `hash` (zero for the first);
//! 5. `hash` is SHA-256(`prev_hash` || canonical event).
//!
//! Each checkpoint (stored, and exported ones given by the caller) is checked when the pass
//! goes beyond its cursor: its signature under the trusted key, then the count and the running
//! root of the events up to it. A checkpoint beyond the end of the log (its newest events were
//! deleted) is checked at the end. The first problem met in this pass is the report's
//! `first_bad`; the pass goes on to count the others.

use std::collections::HashMap;
use std::collections::VecDeque;

use ed25519_dalek::VerifyingKey;
use prconfirm_migrations::Database;
use serde::Serialize;

use super::canonical::{Json, Scratch};
use super::chain::{hash_of, link_from, root_step, write_canonical_event, ChainHash, EventSource};
use super::checkpoint::Checkpoint;
use super::error::AuditError;
use super::rows::{self, Item, RawEvent, Scope};
use prconfirm_migrations::FeedCursor as Cursor;

/// How often (in events) the progress callback is called.
pub const PROGRESS_EVERY: u64 = 50_000;

/// The outcome of a verification: serializable as is for the CLI and an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// True when nothing was wrong.
    pub verified: bool,
    pub events_checked: u64,
    pub cases_checked: u64,
    pub checkpoints_checked: u64,
    /// How many problems were found in all (at most one per event and per checkpoint).
    pub problems: u64,
    /// The first problem in feed order.
    pub first_bad: Option<Finding>,
}

/// One problem, placed as precisely as the evidence allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    /// The case (aggregate id) of the bad event; `None` for a checkpoint that does not hold.
    pub case: Option<String>,
    pub sequence: Option<i64>,
    /// The event's position in the log; for a checkpoint, the position of its cursor.
    pub position: Option<i64>,
    /// `{code, ...}`: `not_canonical`, `missing_hash`, `unexpected_sequence`,
    /// `broken_link`, `hash_mismatch`, `checkpoint_signature`, `checkpoint_mismatch`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub reason: Reason,
    /// The reason in words.
    pub detail: String,
}

/// What is wrong. Serialized with a stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// Payload or metadata does not parse, or has no canonical form (a float, metadata that
    /// is not an object).
    NotCanonical,
    /// No `hash` or `prev_hash` in the metadata, or not 64 lowercase hex digits.
    MissingHash,
    /// The case's events are not numbered 1, 2, 3, ... in order: one is missing or repeated.
    UnexpectedSequence { expected: i64 },
    /// `prev_hash` is not the hash of the case's previous event.
    BrokenLink {
        expected: ChainHash,
        stored: ChainHash,
    },
    /// The stored hash is not the hash of the event's content.
    HashMismatch {
        computed: ChainHash,
        stored: ChainHash,
    },
    /// A checkpoint's signature does not hold under the trusted key.
    CheckpointSignature {
        count: u64,
        source: CheckpointSource,
    },
    /// The log up to a checkpoint's cursor does not fold to what the checkpoint signed: events
    /// were deleted, added, reordered or their hashes rewritten.
    CheckpointMismatch {
        count: u64,
        cursor: Cursor,
        root: ChainHash,
        log_count: u64,
        log_root: ChainHash,
        source: CheckpointSource,
    },
}

/// Where a checkpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointSource {
    /// The database's own table.
    Stored,
    /// A file the caller gave (exported earlier and kept elsewhere).
    Exported,
}

/// How far a verification has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub events_checked: u64,
}

/// The chain state of one case during the pass.
#[derive(Debug)]
struct CaseState {
    next_sequence: i64,
    /// `None` after an event whose hash could not be read: the next link cannot be checked.
    last_hash: Option<ChainHash>,
}

/// The pass itself, fed one item at a time.
struct Pass<'a> {
    trusted: Option<&'a VerifyingKey>,
    exported: Vec<Checkpoint>,
    pending: VecDeque<(Checkpoint, CheckpointSource)>,
    /// Per aggregate type, per aggregate id.
    cases: HashMap<String, HashMap<String, CaseState>>,
    /// Settled events folded so far, and their root.
    count: u64,
    root: ChainHash,
    report: Report,
    /// The canonical bytes of the event at hand, and the writer's buffers (reused).
    canonical: Vec<u8>,
    scratch: Scratch,
}

impl<'a> Pass<'a> {
    fn new(trusted: Option<&'a VerifyingKey>, exported: Vec<Checkpoint>) -> Self {
        Self {
            trusted,
            exported,
            pending: VecDeque::new(),
            cases: HashMap::new(),
            count: 0,
            root: ChainHash::ZERO,
            report: Report {
                verified: false,
                events_checked: 0,
                cases_checked: 0,
                checkpoints_checked: 0,
                problems: 0,
                first_bad: None,
            },
            canonical: Vec::with_capacity(1024),
            scratch: Scratch::default(),
        }
    }

    fn found(&mut self, finding: Finding) {
        self.report.problems += 1;
        if self.report.first_bad.is_none() {
            self.report.first_bad = Some(finding);
        }
    }

    fn checkpoints(&mut self, stored: Vec<Checkpoint>) {
        let mut all: Vec<(Checkpoint, CheckpointSource)> = stored
            .into_iter()
            .map(|c| (c, CheckpointSource::Stored))
            .collect();
        for cp in std::mem::take(&mut self.exported) {
            // An exported copy of a stored checkpoint says nothing new.
            if !all.iter().any(|(c, _)| *c == cp) {
                all.push((cp, CheckpointSource::Exported));
            }
        }
        all.sort_by_key(|(c, _)| (c.cursor, c.count));
        self.pending = all.into();
    }

    /// Checks every pending checkpoint whose cursor is before `upto` (all, for `None`).
    fn settle_checkpoints(&mut self, upto: Option<Cursor>) {
        while let Some((cp, _)) = self.pending.front() {
            if upto.is_some_and(|c| cp.cursor >= c) {
                break;
            }
            let Some((cp, source)) = self.pending.pop_front() else {
                break;
            };
            self.check_checkpoint(&cp, source);
        }
    }

    fn check_checkpoint(&mut self, cp: &Checkpoint, source: CheckpointSource) {
        self.report.checkpoints_checked += 1;
        let at = |reason: Reason, detail: String| Finding {
            case: None,
            sequence: None,
            position: Some(cp.cursor.position),
            reason,
            detail,
        };
        if let Err(problem) = cp.check_signature(self.trusted) {
            let detail = format!("checkpoint {} ({source:?}): {problem}", cp.count);
            self.found(at(
                Reason::CheckpointSignature {
                    count: cp.count,
                    source,
                },
                detail,
            ));
            return;
        }
        if cp.count != self.count || cp.root != self.root {
            let detail = if self.count < cp.count {
                format!(
                    "checkpoint {} ({source:?}) covers {} events up to {}, the log holds {}: events are missing",
                    cp.count, cp.count, cp.cursor, self.count
                )
            } else {
                format!(
                    "checkpoint {} ({source:?}) up to {}: the log holds {} events there, folding to root {} instead of {}",
                    cp.count, cp.cursor, self.count, self.root, cp.root
                )
            };
            self.found(at(
                Reason::CheckpointMismatch {
                    count: cp.count,
                    cursor: cp.cursor,
                    root: cp.root,
                    log_count: self.count,
                    log_root: self.root,
                    source,
                },
                detail,
            ));
        }
    }

    fn event(&mut self, event: &RawEvent<'_>) {
        self.report.events_checked += 1;
        if event.settled {
            self.settle_checkpoints(Some(event.cursor));
        } else {
            // Unsettled rows come after every settled one: no checkpoint reaches them.
            self.settle_checkpoints(None);
        }
        let (problem, hash) = self.check_event(event);
        if let Some((reason, detail)) = problem {
            self.found(Finding {
                case: Some(event.aggregate_id.to_owned()),
                sequence: Some(event.sequence),
                position: Some(event.cursor.position),
                reason,
                detail,
            });
        }
        if event.settled {
            // The root folds what is stored: a wrong hash is the chain's finding, not the
            // checkpoint's.
            self.root = root_step(&self.root, &hash.unwrap_or(ChainHash::ZERO));
            self.count += 1;
        }
    }

    /// The event's problem (if any) and its stored hash (if readable); advances its case.
    fn check_event(&mut self, e: &RawEvent<'_>) -> (Option<(Reason, String)>, Option<ChainHash>) {
        // Look up before inserting: no key is copied for a case already seen.
        let cases = match self.cases.get_mut(e.aggregate_type) {
            Some(cases) => cases,
            None => self.cases.entry(e.aggregate_type.to_owned()).or_default(),
        };
        let state = match cases.get_mut(e.aggregate_id) {
            Some(s) => s,
            None => {
                self.report.cases_checked += 1;
                cases.entry(e.aggregate_id.to_owned()).or_insert(CaseState {
                    next_sequence: 1,
                    last_hash: Some(ChainHash::ZERO),
                })
            }
        };
        let expected_sequence = state.next_sequence;
        let expected_prev = state.last_hash;
        state.next_sequence = e.sequence.saturating_add(1);
        state.last_hash = None;

        self.canonical.clear();
        let source = EventSource {
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            payload: Json::Text(e.payload),
            metadata: Json::Text(e.metadata),
        };
        let [hash, prev_hash] =
            match write_canonical_event(&mut self.scratch, &mut self.canonical, &source) {
                Ok(taken) => taken,
                Err(why) => return (Some((Reason::NotCanonical, why.to_string())), None),
            };
        let link = match link_from(hash.as_ref(), prev_hash.as_ref()) {
            Ok(link) => link,
            Err(why) => return (Some((Reason::MissingHash, why.to_string())), None),
        };
        state.last_hash = Some(link.hash);
        if e.sequence != expected_sequence {
            let detail = if e.sequence > expected_sequence {
                format!(
                    "event {} follows event {}: events {expected_sequence} to {} are missing",
                    e.sequence,
                    expected_sequence - 1,
                    e.sequence - 1
                )
            } else {
                format!(
                    "event {} comes again or out of order (expected {expected_sequence})",
                    e.sequence
                )
            };
            let reason = Reason::UnexpectedSequence {
                expected: expected_sequence,
            };
            return (Some((reason, detail)), Some(link.hash));
        }
        if let Some(expected) = expected_prev {
            if link.prev_hash != expected {
                let detail = format!(
                    "prev_hash {} is not the hash of event {} ({expected})",
                    link.prev_hash,
                    e.sequence - 1
                );
                let reason = Reason::BrokenLink {
                    expected,
                    stored: link.prev_hash,
                };
                return (Some((reason, detail)), Some(link.hash));
            }
        }
        let computed = hash_of(&link.prev_hash, &self.canonical);
        if computed != link.hash {
            let detail = format!(
                "the content hashes to {computed}, the stored hash is {}: the event was changed",
                link.hash
            );
            let reason = Reason::HashMismatch {
                computed,
                stored: link.hash,
            };
            return (Some((reason, detail)), Some(link.hash));
        }
        (None, Some(link.hash))
    }

    fn finish(mut self) -> Report {
        self.settle_checkpoints(None);
        self.report.verified = self.report.problems == 0;
        self.report
    }
}

/// Verifies the whole log: every case's chain, every stored checkpoint and every checkpoint in
/// `exported` (an export kept outside the database, which catches deleted newest events and
/// deleted checkpoints). Signatures are checked with `trusted` only; with `None`, any
/// checkpoint is a problem. `progress` is called every [`PROGRESS_EVERY`] events and at the end.
///
/// Reads one consistent snapshot; on PostgreSQL a read-only one, which holds back no writer
/// and no feed reader.
///
/// # Errors
/// [`AuditError::Database`] if the log cannot be read. Problems with the log itself are not
/// errors: they are in the [`Report`].
pub async fn verify(
    db: &Database,
    trusted: Option<&VerifyingKey>,
    exported: Option<Vec<Checkpoint>>,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<Report, AuditError> {
    let mut pass = Pass::new(trusted, exported.unwrap_or_default());
    rows::scan(db, Scope::All, |item| {
        match item {
            Item::Checkpoints(stored) => pass.checkpoints(stored),
            Item::Event(event) => {
                pass.event(&event);
                if pass.report.events_checked.is_multiple_of(PROGRESS_EVERY) {
                    progress(Progress {
                        events_checked: pass.report.events_checked,
                    });
                }
            }
        }
        Ok(())
    })
    .await?;
    let report = pass.finish();
    progress(Progress {
        events_checked: report.events_checked,
    });
    Ok(report)
}
