//! The personal-data decorator around [`ChainedRepository`]: the personal fields of every
//! event (the domain's [`prconfirm_domain::case::personal`] list) are sealed under the person's data key before the
//! event is chained and written, so the log, its hash chain and every backup hold only their
//! ciphertext; snapshots are sealed whole. Loads open them again, and once the person's data
//! was disposed of they read as values that name nobody ([`Disposed::Placeholder`]), so that
//! a disposed case still loads and refuses what it must.
//!
//! An `Invited` event also carries, in its metadata, the blind index of the person's
//! application number and UCI ([`BLIND_APPLICATION_NUMBER`], [`BLIND_UCI`]; metadata members
//! are strings): the append's trigger claims the person in `invited_people` by those, as it
//! cannot read the sealed fields.

use std::borrow::Cow;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use prconfirm_privacy::payload::{self, Disposed, PayloadError, StoredEvent};
use prconfirm_privacy::{
    Access, Binding, BlindIndexKey, DataKey, PrivacyError, PrivacyKeys, Sealed,
};
use serde_json::Value;

use crate::audit::ChainedRepository;

/// The metadata member of an `Invited` event with the blind index of its application number.
pub const BLIND_APPLICATION_NUMBER: &str = "blind_application_number";
/// The metadata member of an `Invited` event with the blind index of its person's UCI.
pub const BLIND_UCI: &str = "blind_uci";

/// The field name a snapshot is sealed under (its sequence is the snapshot's version).
const SNAPSHOT_FIELD: &str = "snapshot";

/// [`ChainedRepository`] with the personal fields sealed at rest.
#[derive(Debug)]
pub struct SealingRepository {
    inner: ChainedRepository,
    keys: PrivacyKeys,
}

impl SealingRepository {
    pub fn new(inner: ChainedRepository, keys: PrivacyKeys) -> Self {
        Self { inner, keys }
    }
}

fn failed(err: impl std::error::Error + Send + Sync + 'static) -> PersistenceError {
    PersistenceError::UnknownError(Box::new(err))
}

/// A storage failure stays one (the service answers it as unavailable, not as corruption).
fn privacy_failed(err: PrivacyError) -> PersistenceError {
    match err {
        PrivacyError::Storage(e) => failed(e),
        other => failed(other),
    }
}

fn stored<'a>(event: &'a SerializedEvent) -> StoredEvent<'a> {
    StoredEvent {
        case_id: &event.aggregate_id,
        sequence: event.sequence as u64,
        event_type: &event.event_type,
        event_version: &event.event_version,
    }
}

/// An event's identity as sealing binds it, borrowed beside its payload and metadata to
/// change in place.
fn split_mut(event: &mut SerializedEvent) -> (StoredEvent<'_>, &mut Value, &mut Value) {
    let SerializedEvent {
        aggregate_id,
        sequence,
        event_type,
        event_version,
        payload,
        metadata,
        ..
    } = event;
    (
        StoredEvent {
            case_id: aggregate_id,
            sequence: *sequence as u64,
            event_type,
            event_version,
        },
        payload,
        metadata,
    )
}

impl SealingRepository {
    /// Opens the personal fields of one case's events in place.
    async fn open(&self, events: &mut [SerializedEvent]) -> Result<(), PersistenceError> {
        let Some(first) = events.iter().find(|e| stored(e).is_personal()) else {
            return Ok(());
        };
        let access = self
            .keys
            .persons
            .for_opening(&first.aggregate_id)
            .await
            .map_err(privacy_failed)?;
        for event in events.iter_mut() {
            let (meta, stored_payload, _) = split_mut(event);
            if !meta.is_personal() {
                continue;
            }
            payload::open(&access, &meta, stored_payload, Disposed::Placeholder).map_err(failed)?;
        }
        Ok(())
    }

    /// The events with their personal fields sealed, `Invited` with its lookup.
    /// Borrowed as they are when none carries personal fields (most commands).
    async fn sealed<'e>(
        &self,
        events: &'e [SerializedEvent],
    ) -> Result<Cow<'e, [SerializedEvent]>, PersistenceError> {
        let Some(first) = events.iter().find(|e| stored(e).is_personal()) else {
            return Ok(Cow::Borrowed(events));
        };
        let key = self
            .keys
            .persons
            .for_sealing(&first.aggregate_id)
            .await
            .map_err(privacy_failed)?;
        let mut out = events.to_vec();
        for event in &mut out {
            let (meta, stored_payload, metadata) = split_mut(event);
            seal_event(
                &key,
                &self.keys.blind_index,
                &meta,
                stored_payload,
                metadata,
            )
            .map_err(failed)?;
        }
        Ok(Cow::Owned(out))
    }

    /// The snapshot sealed whole under the case's key; `None` (no snapshot written) once the
    /// person's data was disposed of, as a disposed case's state holds only placeholders.
    async fn sealed_snapshot(
        &self,
        update: Option<(String, Value, usize)>,
    ) -> Result<Option<(String, Value, usize)>, PersistenceError> {
        let Some((case_id, state, version)) = update else {
            return Ok(None);
        };
        let key = match self.keys.persons.for_sealing(&case_id).await {
            Ok(key) => key,
            Err(PrivacyError::Disposed(_)) => return Ok(None),
            Err(e) => return Err(privacy_failed(e)),
        };
        let binding = Binding::new(&case_id, version as u64, SNAPSHOT_FIELD);
        let sealed = key
            .seal(&binding, state.to_string().as_bytes())
            .map_err(failed)?;
        Ok(Some((case_id, Value::String(sealed.to_text()), version)))
    }

    /// A stored snapshot opened; `None` for a disposed person's (the events rebuild it).
    async fn opened_snapshot(
        &self,
        mut snapshot: SerializedSnapshot,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let Value::String(text) = &snapshot.aggregate else {
            // Written before snapshots were sealed.
            return Ok(Some(snapshot));
        };
        let not_sealed = || {
            failed(PayloadError::NotSealed {
                event_type: SNAPSHOT_FIELD.to_owned(),
                sequence: snapshot.current_snapshot as u64,
                path: SNAPSHOT_FIELD,
            })
        };
        let sealed = Sealed::parse(text).map_err(|_| not_sealed())?;
        let access = self
            .keys
            .persons
            .for_opening(&snapshot.aggregate_id)
            .await
            .map_err(privacy_failed)?;
        let Access::Key(key) = access else {
            return Ok(None);
        };
        let binding = Binding::new(
            &snapshot.aggregate_id,
            snapshot.current_snapshot as u64,
            SNAPSHOT_FIELD,
        );
        let plain = key.open(&binding, &sealed).map_err(failed)?;
        snapshot.aggregate = serde_json::from_slice(plain.as_bytes()).map_err(failed)?;
        Ok(Some(snapshot))
    }
}

/// Seals the personal fields of one event about to be written (see the module's doc), and
/// gives an `Invited` event the blind index of its person in its metadata.
///
/// # Errors
/// [`PayloadError`] if the cipher refuses.
pub fn seal_event(
    key: &DataKey,
    blind: &BlindIndexKey,
    event: &StoredEvent<'_>,
    payload: &mut Value,
    metadata: &mut Value,
) -> Result<(), PayloadError> {
    if event.event_type == "Invited" {
        let file = &payload["Invited"]["file"];
        let number = file["application_number"]
            .as_str()
            .and_then(|raw| blind.application_number_text(raw));
        let uci = file["uci"].as_str().and_then(|raw| blind.uci_text(raw));
        if let Value::Object(meta) = metadata {
            for (member, index) in [(BLIND_APPLICATION_NUMBER, number), (BLIND_UCI, uci)] {
                if let Some(index) = index {
                    meta.insert(member.to_owned(), Value::String(index.to_hex()));
                }
            }
        }
    }
    if event.is_personal() {
        payload::seal(key, event, payload)?;
    }
    Ok(())
}

impl PersistedEventRepository for SealingRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut events = self.inner.get_events::<A>(aggregate_id).await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut events = self
            .inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        match self.inner.get_snapshot::<A>(aggregate_id).await? {
            Some(snapshot) => self.opened_snapshot(snapshot).await,
            None => Ok(None),
        }
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let sealed = self.sealed(events).await?;
        let snapshot = self.sealed_snapshot(snapshot_update).await?;
        self.inner.persist::<A>(&sealed, snapshot).await
    }

    /// As stored, sealed: nothing in the service replays by stream.
    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_events::<A>(aggregate_id).await
    }

    /// As stored, sealed: nothing in the service replays by stream.
    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<A>().await
    }
}

/// Rewrites the rows of `invited_people` claimed by events from before the blind index (their
/// application number and UCI in the clear) to the blind index of both, so that the table
/// holds no personal data and look-ups by the blind index find them. Answers how many rows it
/// rewrote; run at start-up, it finds none after the first time.
///
/// # Errors
/// Storage errors.
pub async fn blind_invited_people(
    db: &prconfirm_migrations::Database,
    blind: &prconfirm_privacy::BlindIndexKey,
) -> Result<u64, sqlx::Error> {
    // A blind index is 64 hex digits; a UCI has 8 or 10 digits.
    const PLAIN: &str =
        "SELECT application_number, uci, case_id FROM invited_people WHERE length(uci) <> 64";
    const REWRITE: &str = "UPDATE invited_people SET application_number = $1, uci = $2 \
                           WHERE application_number = $3 AND uci = $4 AND case_id = $5";
    let rows: Vec<(String, String, String)> =
        prconfirm_migrations::on_db!(db, |pool| sqlx::query_as(PLAIN).fetch_all(pool).await)?;
    let mut rewritten = 0;
    for (number, uci, case_id) in rows {
        let (Some(blind_number), Some(blind_uci)) =
            (blind.application_number_text(&number), blind.uci_text(&uci))
        else {
            tracing::warn!(
                case_id,
                "invited_people: a claim that is neither plain nor blind"
            );
            continue;
        };
        let done = prconfirm_migrations::on_db!(db, |pool| sqlx::query(REWRITE)
            .bind(blind_number.to_hex())
            .bind(blind_uci.to_hex())
            .bind(&number)
            .bind(&uci)
            .bind(&case_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        rewritten += done;
    }
    Ok(rewritten)
}
