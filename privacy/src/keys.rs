//! The person keys: one data key per case (one case is one person), made on first use,
//! stored in `person_keys` only wrapped by the current KEK, unwrapped on demand and kept a
//! while in a bounded cache, and destroyed on disposal.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prconfirm_migrations::{on_conn, on_db, Conn, Database};

use crate::cache::{CacheSettings, Cached, KeyCache};
use crate::envelope::{Binding, DataKey, EnvelopeError, KeyId, Plaintext, Sealed, KEY_ID_BYTES};
use crate::error::UnwrapError;
use crate::kek::KekRing;
use crate::keyfile::KeyBytes;
use crate::PrivacyError;

/// A stored row: the key's id, and the KEK and wrapped key (both `None` once disposed of).
type Row = (Vec<u8>, Option<String>, Option<Vec<u8>>);

/// The data keys of every person, over the configured database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PersonKeys {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    ring: KekRing,
    cache: KeyCache,
}

/// What opens a case's fields: its key, or the fact that it was destroyed.
#[derive(Debug, Clone)]
pub enum Access {
    Key(Arc<DataKey>),
    Disposed,
}

impl Access {
    /// Opens one field: its plaintext, or [`Opened::Disposed`] once the key is gone.
    ///
    /// # Errors
    /// [`EnvelopeError`] if the field does not open under the key (see [`DataKey::open`]).
    pub fn open(&self, binding: &Binding<'_>, sealed: &Sealed) -> Result<Opened, EnvelopeError> {
        match self {
            Self::Key(key) => key.open(binding, sealed).map(Opened::Plain),
            Self::Disposed => Ok(Opened::Disposed),
        }
    }
}

/// An opened field.
#[derive(Debug)]
pub enum Opened {
    Plain(Plaintext),
    /// The person's data was disposed of: readers show `[disposed]`.
    Disposed,
}

/// What [`PersonKeys::destroy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destroyed {
    /// The key existed and is gone.
    Now,
    /// It had been destroyed before.
    Already,
    /// The case never had a key; it is marked disposed so that none is ever made for it.
    NeverHadOne,
}

impl PersonKeys {
    /// The keys in `db`, wrapped and unwrapped with `ring`.
    pub fn new(db: Database, ring: KekRing, cache: CacheSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                ring,
                cache: KeyCache::new(cache),
            }),
        }
    }

    pub fn ring(&self) -> &KekRing {
        &self.inner.ring
    }

    /// The key to seal `case_id`'s fields with, made (and stored wrapped by the current KEK)
    /// on first use. Made before the event that will carry the fields is appended, and keyed
    /// by the case: a retry finds the same key, and one left by an append that failed is
    /// harmless.
    ///
    /// # Errors
    /// [`PrivacyError::Disposed`] once the person was disposed of; storage, randomness or
    /// unwrap errors.
    pub async fn for_sealing(&self, case_id: &str) -> Result<Arc<DataKey>, PrivacyError> {
        match self.inner.cache.get(case_id) {
            Some(Cached::Live(key)) => return Ok(key),
            Some(Cached::Disposed) => return Err(disposed(case_id)),
            None => {}
        }
        let row = match self.read(case_id).await? {
            Some(row) => row,
            None => {
                self.create(case_id).await?;
                self.read(case_id)
                    .await?
                    .ok_or_else(|| PrivacyError::NoKey(case_id.to_owned()))?
            }
        };
        match self.unwrap_row(case_id, row)? {
            Access::Key(key) => Ok(key),
            Access::Disposed => Err(disposed(case_id)),
        }
    }

    /// What opens `case_id`'s fields.
    ///
    /// # Errors
    /// [`PrivacyError::NoKey`] if the case never had a key (so no field of it was ever
    /// sealed); [`PrivacyError::Unwrap`] if its key was wrapped by a KEK not held here or
    /// does not open; storage errors.
    pub async fn for_opening(&self, case_id: &str) -> Result<Access, PrivacyError> {
        match self.inner.cache.get(case_id) {
            Some(Cached::Live(key)) => return Ok(Access::Key(key)),
            Some(Cached::Disposed) => return Ok(Access::Disposed),
            None => {}
        }
        let row = self
            .read(case_id)
            .await?
            .ok_or_else(|| PrivacyError::NoKey(case_id.to_owned()))?;
        self.unwrap_row(case_id, row)
    }

    /// Seals one field (see [`DataKey::seal`]), making the person's key if need be.
    ///
    /// # Errors
    /// As [`Self::for_sealing`] and [`DataKey::seal`].
    pub async fn seal(
        &self,
        binding: &Binding<'_>,
        plaintext: &[u8],
    ) -> Result<Sealed, PrivacyError> {
        Ok(self
            .for_sealing(binding.case_id)
            .await?
            .seal(binding, plaintext)?)
    }

    /// Opens one field (see [`Access::open`]).
    ///
    /// # Errors
    /// As [`Self::for_opening`] and [`DataKey::open`].
    pub async fn open(
        &self,
        binding: &Binding<'_>,
        sealed: &Sealed,
    ) -> Result<Opened, PrivacyError> {
        Ok(self
            .for_opening(binding.case_id)
            .await?
            .open(binding, sealed)?)
    }

    /// Destroys `case_id`'s data key now, in a transaction of its own: every field sealed
    /// under it opens as [`Opened::Disposed`] from then on, here at once and on other
    /// instances once their cached copy expires. On SQLite the WAL is then checkpointed and
    /// truncated so that the wrapped key's bytes do not linger there (the pool zeroes freed
    /// space: `secure_delete`). On PostgreSQL the old row version stays in the table file
    /// until vacuumed and in WAL archives and backups: there, it is wrapped by the KEK, and
    /// it is gone for good once that KEK is rotated away and destroyed.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn destroy(
        &self,
        case_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Destroyed, PrivacyError> {
        let db = &self.inner.db;
        let begin = db.begin_write();
        let outcome = match db {
            Database::Postgres(pool) => {
                let mut tx = pool.begin_with(begin).await?;
                let outcome = destroy_in(&mut Conn::Pg(&mut tx), case_id, at).await?;
                tx.commit().await?;
                outcome
            }
            Database::Sqlite(pool) => {
                let mut tx = pool.begin_with(begin).await?;
                let outcome = destroy_in(&mut Conn::Sqlite(&mut tx), case_id, at).await?;
                tx.commit().await?;
                // Best effort: a reader holding an old snapshot keeps the WAL from being
                // truncated; the next checkpoint copies the zeroed page over the old one.
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await
                {
                    tracing::warn!(error = %e, "cannot checkpoint the WAL after a disposal");
                }
                outcome
            }
        };
        self.inner.cache.put(case_id, Cached::Disposed);
        Ok(outcome)
    }

    /// Destroys `case_id`'s data key inside the caller's transaction (a disposal recorded
    /// with other changes). This instance forgets its cached copy at once; if the
    /// transaction rolls back, the key is read again on next use.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn destroy_in(
        &self,
        conn: &mut Conn<'_>,
        case_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Destroyed, PrivacyError> {
        self.inner.cache.forget(case_id);
        destroy_in(conn, case_id, at).await
    }

    async fn read(&self, case_id: &str) -> Result<Option<Row>, PrivacyError> {
        let sql = "SELECT key_id, kek_id, wrapped FROM person_keys WHERE case_id = $1";
        Ok(on_db!(&self.inner.db, |pool| sqlx::query_as(sql)
            .bind(case_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Makes and stores a key for `case_id` unless one exists (or existed): whoever comes
    /// second keeps the first one's.
    async fn create(&self, case_id: &str) -> Result<(), PrivacyError> {
        let key = KeyBytes::random()?;
        let mut id = [0u8; KEY_ID_BYTES];
        getrandom::getrandom(&mut id).map_err(|e| PrivacyError::Random(e.to_string()))?;
        let id = KeyId(id);
        let kek = self.inner.ring.current();
        let wrapped = kek.wrap(case_id, &id, &key)?;
        let sql = "INSERT INTO person_keys (case_id, key_id, kek_id, wrapped) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (case_id) DO NOTHING";
        // On SQLite, queued with the appends for the one writer (see `migrations::gate`): a
        // writer outside the queue meets a stream of turns in SQLite's busy handler and,
        // under a burst of invitations, can starve past its time-out.
        let _turn = self.inner.db.write_turn().await;
        on_db!(&self.inner.db, |pool| sqlx::query(sql)
            .bind(case_id)
            .bind(id.0.as_slice())
            .bind(kek.id().as_str())
            .bind(wrapped)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    fn unwrap_row(
        &self,
        case_id: &str,
        (key_id, kek_id, wrapped): Row,
    ) -> Result<Access, PrivacyError> {
        let (Some(kek_id), Some(wrapped)) = (kek_id, wrapped) else {
            self.inner.cache.put(case_id, Cached::Disposed);
            return Ok(Access::Disposed);
        };
        let unwrap_error = |source| PrivacyError::Unwrap {
            case_id: case_id.to_owned(),
            source,
        };
        let key_id =
            KeyId::from_slice(&key_id).ok_or_else(|| unwrap_error(UnwrapError::DoesNotOpen))?;
        let bytes = self
            .inner
            .ring
            .unwrap_key(&kek_id, case_id, &key_id, &wrapped)
            .map_err(unwrap_error)?;
        let key = Arc::new(DataKey::new(case_id, key_id, bytes.as_array()));
        self.inner.cache.put(case_id, Cached::Live(key.clone()));
        Ok(Access::Key(key))
    }
}

fn disposed(case_id: &str) -> PrivacyError {
    PrivacyError::Disposed(case_id.to_owned())
}

/// Destroys the key in `conn`'s transaction; a case without one is marked disposed.
async fn destroy_in(
    conn: &mut Conn<'_>,
    case_id: &str,
    at: DateTime<Utc>,
) -> Result<Destroyed, PrivacyError> {
    let destroy = "UPDATE person_keys SET wrapped = NULL, kek_id = NULL, disposed_at = $2 \
                   WHERE case_id = $1 AND wrapped IS NOT NULL";
    let changed = on_conn!(conn, |c| sqlx::query(destroy)
        .bind(case_id)
        .bind(at)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
    if changed > 0 {
        return Ok(Destroyed::Now);
    }
    // No key: a tombstone, so that no key is ever made for a disposed person. Its key id is
    // random like any other and names nothing.
    let mut id = [0u8; KEY_ID_BYTES];
    getrandom::getrandom(&mut id).map_err(|e| PrivacyError::Random(e.to_string()))?;
    let mark = "INSERT INTO person_keys (case_id, key_id, disposed_at) VALUES ($1, $2, $3) \
                ON CONFLICT (case_id) DO NOTHING";
    let marked = on_conn!(conn, |c| sqlx::query(mark)
        .bind(case_id)
        .bind(id.as_slice())
        .bind(at)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(if marked > 0 {
        Destroyed::NeverHadOne
    } else {
        Destroyed::Already
    })
}

/// How many keys each KEK wraps, and how many were destroyed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyStatus {
    /// Live keys by the id of the KEK that wraps them.
    pub by_kek: BTreeMap<String, u64>,
    pub disposed: u64,
}

impl KeyStatus {
    /// Live keys wrapped by KEKs `ring` does not hold, by KEK id.
    pub fn not_held(&self, ring: &KekRing) -> BTreeMap<String, u64> {
        self.by_kek
            .iter()
            .filter(|(id, _)| !ring.holds(id))
            .map(|(id, n)| (id.clone(), *n))
            .collect()
    }

    pub fn live(&self) -> u64 {
        self.by_kek.values().sum()
    }
}

/// Counts the keys in `db` by KEK.
///
/// # Errors
/// Storage errors.
pub async fn status(db: &Database) -> Result<KeyStatus, PrivacyError> {
    let sql = "SELECT kek_id, COUNT(*) FROM person_keys GROUP BY kek_id";
    let rows: Vec<(Option<String>, i64)> =
        on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
    let mut status = KeyStatus::default();
    for (kek, n) in rows {
        let n = u64::try_from(n).unwrap_or(0);
        match kek {
            Some(kek) => {
                status.by_kek.insert(kek, n);
            }
            None => status.disposed = n,
        }
    }
    Ok(status)
}

/// Refuses a ring that cannot unwrap every live key in `db`: an instance given the wrong
/// KEK (or only the new one while a rotation is unfinished) would fail on those persons'
/// fields one request at a time; better to say so at start.
///
/// # Errors
/// [`PrivacyError::KeksNotHeld`] naming the KEK ids and how many keys each wraps; storage
/// errors.
pub async fn check_ring(db: &Database, ring: &KekRing) -> Result<(), PrivacyError> {
    if kek_ids(db).await?.iter().all(|id| ring.holds(id)) {
        return Ok(());
    }
    // Only now count them, for the message: a start-up that fits never scans the table.
    Err(PrivacyError::KeksNotHeld(status(db).await?.not_held(ring)))
}

/// The KEK ids that wrap live keys, found by a skip scan of `person_keys_by_kek` (one index
/// probe per KEK, however many keys each wraps), so a start-up stays quick at millions of
/// persons.
async fn kek_ids(db: &Database) -> Result<Vec<String>, PrivacyError> {
    let sql = "WITH RECURSIVE k(id) AS ( \
                 SELECT MIN(kek_id) FROM person_keys WHERE wrapped IS NOT NULL \
                 UNION ALL \
                 SELECT (SELECT MIN(kek_id) FROM person_keys \
                         WHERE wrapped IS NOT NULL AND kek_id > k.id) \
                 FROM k WHERE k.id IS NOT NULL) \
               SELECT id FROM k WHERE id IS NOT NULL";
    Ok(on_db!(db, |pool| sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await)?)
}
