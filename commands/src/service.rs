//! `CaseService`: the one way commands reach a case. It looks up what the rules need (the
//! time, a fresh case id, a document number), runs the command through cqrs-es's
//! `CqrsFramework<Case>`, and answers with the case's new version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::persist::{PersistedEventStore, SemanticVersionEventUpcaster};
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventEnvelope, EventStore, Query};
use prconfirm_domain::case::{upcast, Case, CaseCommand, CaseError, CaseEvent, CaseRequest, Ctx};
use prconfirm_domain::case::{CaseFile, StageName};
use prconfirm_domain::values::{DocumentNumber, Text};
use prconfirm_migrations::Database;
use prconfirm_privacy::PrivacyKeys;
use uuid::Uuid;

use crate::audit::ChainedRepository;
use crate::clock::Clock;
use crate::metadata::{event_metadata, keys, RequestMeta};
use crate::sealing::SealingRepository;

type Store = PersistedEventStore<SealingRepository, Case>;

/// How the write side is tuned.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceSettings {
    /// Take a snapshot every this many events per case; 0 (the default) turns snapshots off.
    /// A case lives for some 15 to 30 events, which one indexed range read loads; a snapshot
    /// store spends an extra query on every load to look for a snapshot (see the lifecycle
    /// benchmark). Worth turning on only if cases grow long.
    pub snapshot_every: usize,
}

/// Why a command did not take effect. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The rules refused the command.
    #[error(transparent)]
    Rejected(CaseError),
    #[error("no case {0}")]
    NotFound(String),
    /// Another command on the same case committed first; the caller may retry.
    #[error("another command changed the case first")]
    Conflict,
    /// The database could not be reached or did not answer in time.
    #[error("storage unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// A stored event or snapshot could not be read back.
    #[error("stored case could not be read: {0}")]
    Corrupt(Box<dyn std::error::Error + Send + Sync>),
    #[error("unexpected storage error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl CommandError {
    fn from_aggregate(case_id: &str, err: AggregateError<CaseError>) -> Self {
        match err {
            AggregateError::UserError(CaseError::InvalidTransition {
                stage: StageName::New,
                ..
            }) => Self::NotFound(case_id.to_owned()),
            AggregateError::UserError(e) => Self::Rejected(e),
            AggregateError::AggregateConflict => Self::Conflict,
            AggregateError::DatabaseConnectionError(e) => Self::Unavailable(e),
            AggregateError::DeserializationError(e) => Self::Corrupt(e),
            AggregateError::UnexpectedError(e) => classify_unexpected(e),
        }
    }
}

/// postgres-es and sqlite-es report pool time-outs and lost connections as unknown errors;
/// they are outages.
fn classify_unexpected(e: Box<dyn std::error::Error + Send + Sync>) -> CommandError {
    match e.downcast_ref::<sqlx::Error>() {
        Some(cause) if prconfirm_migrations::is_outage(cause) => CommandError::Unavailable(e),
        _ => CommandError::Internal(e),
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub case_id: String,
    /// The case's version (sequence of its last event) after the command.
    pub version: u64,
    pub events: Vec<CaseEvent>,
}

/// A case as loaded from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCase {
    pub case: Case,
    pub version: u64,
}

/// Hands the committed envelopes of one command back to the caller that ran it, found by the
/// command's causation id. In memory and only for the answer: read models use the feed.
#[derive(Debug, Default)]
struct CommitObserver {
    committed: Mutex<HashMap<String, (u64, Vec<CaseEvent>)>>,
}

impl CommitObserver {
    fn take(&self, causation_id: &str) -> Option<(u64, Vec<CaseEvent>)> {
        self.lock().remove(causation_id)
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Vec<CaseEvent>)>> {
        self.committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The observer as registered with the framework.
struct ObserverQuery(Arc<CommitObserver>);

#[async_trait]
impl Query<Case> for ObserverQuery {
    async fn dispatch(&self, _aggregate_id: &str, events: &[EventEnvelope<Case>]) {
        let Some(last) = events.last() else { return };
        let Some(causation) = last.metadata.get(keys::CAUSATION_ID) else {
            return;
        };
        let payloads = events.iter().map(|e| e.payload.clone()).collect();
        self.0
            .lock()
            .insert(causation.clone(), (last.sequence as u64, payloads));
    }
}

/// The write side of the case aggregate.
pub struct CaseService {
    cqrs: CqrsFramework<Case, Store>,
    reader: Store,
    observer: Arc<CommitObserver>,
    clock: Arc<dyn Clock>,
    db: Database,
    /// Bumped after every commit that appended events, for in-process readers of the feed.
    appended: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for CaseService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseService")
            .field("backend", &self.db.backend())
            .finish_non_exhaustive()
    }
}

fn upcasters() -> Vec<Box<dyn cqrs_es::persist::EventUpcaster>> {
    upcast::ALL
        .iter()
        .map(|u| {
            let transform = u.transform;
            Box::new(SemanticVersionEventUpcaster::new(
                u.event_type,
                u.to_version,
                Box::new(transform),
            )) as Box<dyn cqrs_es::persist::EventUpcaster>
        })
        .collect()
}

fn store(db: &Database, settings: ServiceSettings, privacy: &PrivacyKeys) -> Store {
    let repo = SealingRepository::new(ChainedRepository::new(db), privacy.clone());
    let store = if settings.snapshot_every == 0 {
        PersistedEventStore::new_event_store(repo)
    } else {
        PersistedEventStore::new_snapshot_store(repo, settings.snapshot_every)
    };
    store.with_upcasters(upcasters())
}

impl CaseService {
    /// The service over `db`, sealing personal fields with `privacy`'s person keys.
    pub fn new(
        db: Database,
        settings: ServiceSettings,
        clock: Arc<dyn Clock>,
        privacy: &PrivacyKeys,
    ) -> Self {
        let observer = Arc::new(CommitObserver::default());
        let cqrs = CqrsFramework::new(
            store(&db, settings, privacy),
            vec![Box::new(ObserverQuery(observer.clone()))],
            (),
        );
        Self {
            cqrs,
            reader: store(&db, settings, privacy),
            observer,
            clock,
            db,
            appended: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A signal that changes after every commit that appended events (in this process).
    pub fn appended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.appended.subscribe()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Opens a new case and invites the applicant.
    ///
    /// # Errors
    /// See [`CommandError`].
    pub async fn invite(
        &self,
        file: CaseFile,
        respond_by: DateTime<Utc>,
        meta: &RequestMeta,
    ) -> Result<Committed, CommandError> {
        let case_id = Uuid::new_v4().to_string();
        self.run(
            &case_id,
            CaseCommand::Invite {
                file,
                respond_by,
                guardian_case: None,
            },
            meta,
        )
        .await
    }

    /// Grants PR and issues the eCoPR under a newly drawn document number.
    ///
    /// # Errors
    /// See [`CommandError`]. A refused grant spends its number: numbers are unique, not dense.
    pub async fn grant(
        &self,
        case_id: &str,
        meta: &RequestMeta,
    ) -> Result<Committed, CommandError> {
        let document_number = self.next_document_number().await?;
        self.run(
            case_id,
            CaseCommand::GrantPermanentResidence { document_number },
            meta,
        )
        .await
    }

    /// Issues a corrected eCoPR under a newly drawn document number; the one in force is kept
    /// in the history as superseded.
    ///
    /// # Errors
    /// See [`CommandError`]. A refused amendment spends its number, as a refused grant does.
    pub async fn amend_ecopr(
        &self,
        case_id: &str,
        correction: Text,
        meta: &RequestMeta,
    ) -> Result<Committed, CommandError> {
        let document_number = self.next_document_number().await?;
        self.run(
            case_id,
            CaseCommand::AmendEcopr {
                document_number,
                correction,
            },
            meta,
        )
        .await
    }

    /// Runs `command` on an existing case (or `Invite` on a new id).
    ///
    /// # Errors
    /// See [`CommandError`].
    pub async fn execute(
        &self,
        case_id: &str,
        command: CaseCommand,
        meta: &RequestMeta,
    ) -> Result<Committed, CommandError> {
        self.run(case_id, command, meta).await
    }

    async fn run(
        &self,
        case_id: &str,
        command: CaseCommand,
        meta: &RequestMeta,
    ) -> Result<Committed, CommandError> {
        let now = self.clock.now();
        let causation_id = Uuid::new_v4();
        let command_name = command.name();
        let metadata = event_metadata(meta, command_name, causation_id, now);
        let request = CaseRequest {
            command,
            ctx: Ctx {
                now,
                actor: meta.actor.id.clone(),
                expected_version: meta.expected_version,
            },
        };
        let outcome = self
            .cqrs
            .execute_with_metadata(case_id, request, metadata)
            .await;
        let committed = self.observer.take(&causation_id.to_string());
        let outcome = outcome.map_err(|e| CommandError::from_aggregate(case_id, e));
        metrics::counter!(
            "prconfirm_commands_total",
            "command" => command_name,
            "outcome" => match &outcome {
                Ok(()) => "committed",
                Err(CommandError::Rejected(_) | CommandError::NotFound(_)) => "rejected",
                Err(CommandError::Conflict) => "conflict",
                Err(_) => "error",
            }
        )
        .increment(1);
        outcome?;
        let (version, events) = match committed {
            Some(c) => {
                self.appended.send_modify(|n| *n = n.wrapping_add(1));
                c
            }
            // Nothing to commit (no events): the case is as it was.
            None => (self.load_required(case_id).await?.version, Vec::new()),
        };
        Ok(Committed {
            case_id: case_id.to_owned(),
            version,
            events,
        })
    }

    /// What a new password of the applicant of `case_id` may not contain: their e-mail
    /// address and names, from the case file (nothing for a case never invited).
    ///
    /// # Errors
    /// As [`CaseService::load`].
    pub async fn identity_of(&self, case_id: &str) -> Result<Vec<String>, CommandError> {
        let file = self.load(case_id).await?.and_then(|c| c.case.file);
        Ok(file
            .map(|f| {
                vec![
                    f.email.as_str().to_owned(),
                    f.given_name.as_str().to_owned(),
                    f.family_name.as_str().to_owned(),
                ]
            })
            .unwrap_or_default())
    }

    /// Loads a case from its snapshot and events; `None` if it was never invited.
    ///
    /// # Errors
    /// [`CommandError::Unavailable`], [`CommandError::Corrupt`] or [`CommandError::Internal`].
    pub async fn load(&self, case_id: &str) -> Result<Option<LoadedCase>, CommandError> {
        let context = self
            .reader
            .load_aggregate(case_id)
            .await
            .map_err(|e| CommandError::from_aggregate(case_id, e))?;
        if context.current_sequence == 0 {
            return Ok(None);
        }
        Ok(Some(LoadedCase {
            case: context.aggregate,
            version: context.current_sequence as u64,
        }))
    }

    /// The case's version in the log (the sequence of its last event), without loading it;
    /// `None` if it was never invited.
    ///
    /// # Errors
    /// [`CommandError::Unavailable`] or [`CommandError::Internal`].
    pub async fn version(&self, case_id: &str) -> Result<Option<u64>, CommandError> {
        let sql =
            "SELECT max(sequence) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2";
        let last: Option<i64> = prconfirm_migrations::on_db!(&self.db, |pool| {
            sqlx::query_scalar(sql)
                .bind(<Case as Aggregate>::TYPE)
                .bind(case_id)
                .fetch_one(pool)
                .await
        })
        .map_err(|e| classify_unexpected(Box::new(e)))?;
        Ok(last.map(i64::unsigned_abs))
    }

    async fn load_required(&self, case_id: &str) -> Result<LoadedCase, CommandError> {
        self.load(case_id)
            .await?
            .ok_or_else(|| CommandError::NotFound(case_id.to_owned()))
    }

    /// Every event of a case, upcast to current shapes, in order.
    ///
    /// # Errors
    /// As [`CaseService::load`].
    pub async fn history(&self, case_id: &str) -> Result<Vec<EventEnvelope<Case>>, CommandError> {
        self.reader
            .load_events(case_id)
            .await
            .map_err(|e| CommandError::from_aggregate(case_id, e))
    }

    async fn next_document_number(&self) -> Result<DocumentNumber, CommandError> {
        let serial: i64 = match &self.db {
            Database::Postgres(pool) => {
                sqlx::query_scalar("SELECT nextval('ecopr_document_serial')")
                    .fetch_one(pool)
                    .await
            }
            Database::Sqlite(pool) => {
                sqlx::query_scalar(
                    "INSERT INTO ecopr_document_serial DEFAULT VALUES RETURNING serial",
                )
                .fetch_one(pool)
                .await
            }
        }
        .map_err(|e| classify_unexpected(Box::new(e)))?;
        Ok(DocumentNumber::from_serial(serial.unsigned_abs()))
    }
}
