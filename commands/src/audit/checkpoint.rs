//! Signed checkpoints over the global feed: "the first `count` events of the feed, up to
//! `cursor`, fold to `root`", signed with the audit key. Exported (as JSON lines) and kept
//! elsewhere, a checkpoint makes deleting or rewriting any event it covers evident, including
//! the newest ones, which no hash chain can vouch for by itself.

use std::io::{BufRead, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use prconfirm_migrations::Database;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::canonical::{write_decimal, write_str};
use super::chain::{root_step, ChainHash};
use super::error::AuditError;
use super::hashes;
use super::keys::AuditKey;
use prconfirm_migrations::FeedCursor as Cursor;

/// What the signed statement says it is; changes only with a new statement format.
pub const STATEMENT_TYPE: &str = "prconfirm.audit.checkpoint.v1";

/// How many hashes one read of the feed takes while folding a new checkpoint.
const PAGE: u32 = 10_000;

/// One signed checkpoint, as stored and as exported (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// How many events of the feed it covers (the first `count`, in feed order).
    pub count: u64,
    /// The feed cursor of the last event it covers.
    pub cursor: Cursor,
    /// The running root after those events.
    pub root: ChainHash,
    /// When it was signed, RFC 3339 (UTC, microseconds), exactly as signed.
    pub signed_at: String,
    /// The Ed25519 public key that signed it, 64 lowercase hex digits. Informative only: a
    /// verifier checks the signature with the key it trusts, not with this one.
    pub public_key: String,
    /// The Ed25519 signature of [`Checkpoint::statement`], 128 lowercase hex digits.
    pub signature: String,
}

/// Why a checkpoint's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("no public key was given to check it with")]
    NoPublicKey,
    #[error("signature is not 128 hex digits")]
    Malformed,
    #[error("signed by another key ({0})")]
    OtherKey(String),
    #[error("signature does not match the statement")]
    Invalid,
}

impl Checkpoint {
    /// Signs a statement with `key`.
    pub fn sign(
        count: u64,
        cursor: Cursor,
        root: ChainHash,
        signed_at: DateTime<Utc>,
        key: &AuditKey,
    ) -> Self {
        let mut checkpoint = Self {
            count,
            cursor,
            root,
            signed_at: signed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            public_key: key.public_key_hex(),
            signature: String::new(),
        };
        checkpoint.signature = hex::encode(key.sign(&checkpoint.statement()).to_bytes());
        checkpoint
    }

    /// The bytes the signature covers: the canonical JSON of
    /// `{"count":N,"cursor":"tx.position","root":"<hex>","signed_at":"<RFC 3339>","type":"prconfirm.audit.checkpoint.v1"}`.
    pub fn statement(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"count\":");
        write_decimal(&mut out, false, self.count);
        out.extend_from_slice(b",\"cursor\":");
        write_str(&mut out, &self.cursor.to_string());
        out.extend_from_slice(b",\"root\":");
        write_str(&mut out, &self.root.to_hex());
        out.extend_from_slice(b",\"signed_at\":");
        write_str(&mut out, &self.signed_at);
        out.extend_from_slice(b",\"type\":");
        write_str(&mut out, STATEMENT_TYPE);
        out.push(b'}');
        out
    }

    /// Checks the signature with the key the verifier trusts.
    ///
    /// # Errors
    /// The [`SignatureProblem`] found.
    pub fn check_signature(&self, trusted: Option<&VerifyingKey>) -> Result<(), SignatureProblem> {
        let key = trusted.ok_or(SignatureProblem::NoPublicKey)?;
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut bytes)
            .map_err(|_| SignatureProblem::Malformed)?;
        let signature = Signature::from_bytes(&bytes);
        key.verify_strict(&self.statement(), &signature)
            .map_err(|_| {
                if self.public_key == hex::encode(key.as_bytes()) {
                    SignatureProblem::Invalid
                } else {
                    SignatureProblem::OtherKey(self.public_key.clone())
                }
            })
    }
}

/// Takes a checkpoint now: folds the feed's settled events since the newest stored
/// checkpoint into its root, signs the result with `key` and stores it. `None` when no event
/// arrived since the last one.
///
/// Safe to run from several instances at once: two that reach the same count store one.
///
/// # Errors
/// [`AuditError::ForeignCheckpoint`] if the newest checkpoint does not verify under `key`;
/// [`AuditError::Unhashed`] if an event carries no usable hash; [`AuditError::Database`].
pub async fn take_checkpoint(
    db: &Database,
    key: &AuditKey,
    now: DateTime<Utc>,
) -> Result<Option<Checkpoint>, AuditError> {
    let last = latest(db).await?;
    let (mut count, mut cursor, mut root) = match &last {
        Some(cp) => {
            cp.check_signature(Some(&key.verifying_key()))
                .map_err(|_| AuditError::ForeignCheckpoint { count: cp.count })?;
            (cp.count, cp.cursor, cp.root)
        }
        None => (0, Cursor::START, ChainHash::ZERO),
    };
    let start = count;
    loop {
        let page = hashes::hashes_after(db, cursor, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for (at, hash) in page {
            let hash = hash
                .ok_or(super::chain::LinkError::Missing(super::chain::HASH_KEY))
                .and_then(|h| {
                    h.parse::<ChainHash>()
                        .map_err(|_| super::chain::LinkError::Malformed(super::chain::HASH_KEY))
                })
                .map_err(|source| AuditError::Unhashed { cursor: at, source })?;
            root = root_step(&root, &hash);
            count += 1;
            cursor = at;
        }
    }
    if count == start {
        return Ok(None);
    }
    let checkpoint = Checkpoint::sign(count, cursor, root, now, key);
    let stored = insert(db, &checkpoint).await?;
    if stored {
        tracing::info!(count, cursor = %cursor, root = %root, "audit checkpoint signed");
    }
    Ok(stored.then_some(checkpoint))
}

const INSERT: &str = "INSERT INTO audit_checkpoints \
    (count, cursor_tx, cursor_position, root, signed_at, public_key, signature) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

const SELECT: &str = "SELECT count, cursor_tx, cursor_position, root, signed_at, public_key, \
    signature FROM audit_checkpoints ORDER BY count";

const SELECT_LATEST: &str = "SELECT count, cursor_tx, cursor_position, root, signed_at, \
    public_key, signature FROM audit_checkpoints ORDER BY count DESC LIMIT 1";

fn as_i64(n: u64, cursor: Cursor) -> Result<i64, AuditError> {
    i64::try_from(n).map_err(|_| AuditError::Unreadable {
        cursor,
        detail: format!("{n} does not fit the checkpoint table"),
    })
}

/// Stores a checkpoint; `false` if one with the same count or cursor is already there.
async fn insert(db: &Database, cp: &Checkpoint) -> Result<bool, AuditError> {
    let (count, tx) = (
        as_i64(cp.count, cp.cursor)?,
        as_i64(cp.cursor.tx, cp.cursor)?,
    );
    let done = match db {
        Database::Postgres(pool) => sqlx::query(INSERT)
            .bind(count)
            .bind(tx)
            .bind(cp.cursor.position)
            .bind(cp.root.to_hex())
            .bind(&cp.signed_at)
            .bind(&cp.public_key)
            .bind(&cp.signature)
            .execute(pool)
            .await?
            .rows_affected(),
        Database::Sqlite(pool) => sqlx::query(INSERT)
            .bind(count)
            .bind(tx)
            .bind(cp.cursor.position)
            .bind(cp.root.to_hex())
            .bind(&cp.signed_at)
            .bind(&cp.public_key)
            .bind(&cp.signature)
            .execute(pool)
            .await?
            .rows_affected(),
    };
    Ok(done == 1)
}

fn from_row<R: Row>(row: &R) -> Result<Checkpoint, AuditError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let count: i64 = row.try_get("count")?;
    let tx: i64 = row.try_get("cursor_tx")?;
    let cursor = Cursor {
        tx: tx.unsigned_abs(),
        position: row.try_get("cursor_position")?,
    };
    let root: String = row.try_get("root")?;
    Ok(Checkpoint {
        count: count.unsigned_abs(),
        cursor,
        root: root.parse().map_err(|_| AuditError::Unreadable {
            cursor,
            detail: format!("checkpoint {count} has a malformed root"),
        })?,
        signed_at: row.try_get("signed_at")?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

/// Every stored checkpoint, oldest first.
///
/// # Errors
/// [`AuditError::Database`], or [`AuditError::Unreadable`] for a malformed row.
pub async fn stored(db: &Database) -> Result<Vec<Checkpoint>, AuditError> {
    match db {
        Database::Postgres(pool) => sqlx::query(SELECT)
            .fetch_all(pool)
            .await?
            .iter()
            .map(from_row)
            .collect(),
        Database::Sqlite(pool) => sqlx::query(SELECT)
            .fetch_all(pool)
            .await?
            .iter()
            .map(from_row)
            .collect(),
    }
}

pub(crate) async fn stored_pg(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<Vec<Checkpoint>, AuditError> {
    sqlx::query(SELECT)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub(crate) async fn stored_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
) -> Result<Vec<Checkpoint>, AuditError> {
    sqlx::query(SELECT)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

async fn latest(db: &Database) -> Result<Option<Checkpoint>, AuditError> {
    let row = match db {
        Database::Postgres(pool) => sqlx::query(SELECT_LATEST)
            .fetch_optional(pool)
            .await?
            .map(|r| from_row(&r)),
        Database::Sqlite(pool) => sqlx::query(SELECT_LATEST)
            .fetch_optional(pool)
            .await?
            .map(|r| from_row(&r)),
    };
    row.transpose()
}

const SELECT_OTHER_SIGNER: &str = "SELECT count, cursor_tx, cursor_position, root, signed_at, \
    public_key, signature FROM audit_checkpoints WHERE public_key <> $1 ORDER BY count LIMIT 1";

/// The first stored checkpoint that `key` did not sign, if any: the newest one when its
/// signature does not verify under `key` (new checkpoints extend it), else the oldest one
/// that names another public key. Cheap at any size of the log: one signature and one scan
/// of the checkpoints' small table.
///
/// A server that signs checkpoints asks this at start: instances that each hold a key of
/// their own sign checkpoints that no single trusted key verifies.
///
/// # Errors
/// [`AuditError::Database`], or [`AuditError::Unreadable`] for a malformed row.
pub async fn signed_by_another(
    db: &Database,
    key: &VerifyingKey,
) -> Result<Option<Checkpoint>, AuditError> {
    if let Some(newest) = latest(db).await? {
        if newest.check_signature(Some(key)).is_err() {
            return Ok(Some(newest));
        }
    }
    let ours = hex::encode(key.as_bytes());
    let row = match db {
        Database::Postgres(pool) => sqlx::query(SELECT_OTHER_SIGNER)
            .bind(&ours)
            .fetch_optional(pool)
            .await?
            .map(|r| from_row(&r)),
        Database::Sqlite(pool) => sqlx::query(SELECT_OTHER_SIGNER)
            .bind(&ours)
            .fetch_optional(pool)
            .await?
            .map(|r| from_row(&r)),
    };
    row.transpose()
}

/// The newest stored checkpoint, if any.
///
/// # Errors
/// [`AuditError::Database`], or [`AuditError::Unreadable`] for a malformed row.
pub async fn newest(db: &Database) -> Result<Option<Checkpoint>, AuditError> {
    latest(db).await
}

/// Writes every stored checkpoint to `out`, one JSON object per line, oldest first; returns
/// how many.
///
/// # Errors
/// [`AuditError::Database`] or [`AuditError::Write`].
pub async fn export(db: &Database, mut out: impl Write) -> Result<usize, AuditError> {
    let all = stored(db).await?;
    for cp in &all {
        serde_json::to_writer(&mut out, cp).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(all.len())
}

/// Reads checkpoints exported by [`export`] (blank lines are skipped).
///
/// # Errors
/// [`AuditError::BadCheckpointLine`] for a line that does not parse; [`AuditError::Write`]
/// if reading fails.
pub fn read_exported(input: impl BufRead) -> Result<Vec<Checkpoint>, AuditError> {
    let mut all = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        all.push(
            serde_json::from_str(&line).map_err(|source| AuditError::BadCheckpointLine {
                line: i + 1,
                source,
            })?,
        );
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    fn checkpoint(key: &AuditKey) -> Checkpoint {
        Checkpoint::sign(
            3,
            Cursor { tx: 7, position: 9 },
            ChainHash([5; 32]),
            Utc.with_ymd_and_hms(2026, 6, 1, 14, 0, 0).unwrap(),
            key,
        )
    }

    #[test]
    fn the_statement_is_canonical_json_of_what_is_signed() {
        let cp = checkpoint(&AuditKey::from_seed([1; 32]));
        assert_eq!(
            String::from_utf8(cp.statement()).unwrap(),
            format!(
                r#"{{"count":3,"cursor":"7.9","root":"{}","signed_at":"2026-06-01T14:00:00.000000Z","type":"prconfirm.audit.checkpoint.v1"}}"#,
                "05".repeat(32)
            )
        );
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_breaks_it() {
        let key = AuditKey::from_seed([1; 32]);
        let cp = checkpoint(&key);
        let trusted = key.verifying_key();
        assert_eq!(cp.check_signature(Some(&trusted)), Ok(()));
        let mut more = cp.clone();
        more.count = 4;
        assert_eq!(
            more.check_signature(Some(&trusted)),
            Err(SignatureProblem::Invalid)
        );
        let mut moved = cp.clone();
        moved.root = ChainHash([6; 32]);
        assert_eq!(
            moved.check_signature(Some(&trusted)),
            Err(SignatureProblem::Invalid)
        );
        assert_eq!(cp.check_signature(None), Err(SignatureProblem::NoPublicKey));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_named_as_such() {
        let cp = checkpoint(&AuditKey::from_seed([2; 32]));
        let trusted = AuditKey::from_seed([1; 32]).verifying_key();
        assert!(matches!(
            cp.check_signature(Some(&trusted)),
            Err(SignatureProblem::OtherKey(_))
        ));
    }

    #[test]
    fn exported_lines_read_back_as_the_same_checkpoints() {
        let key = AuditKey::from_seed([1; 32]);
        let cps = vec![checkpoint(&key), checkpoint(&key)];
        let mut text = Vec::new();
        for cp in &cps {
            serde_json::to_writer(&mut text, cp).unwrap();
            text.extend_from_slice(b"\n\n");
        }
        assert_eq!(read_exported(text.as_slice()).unwrap(), cps);
        assert!(matches!(
            read_exported(&b"{\"count\": 1}\n"[..]),
            Err(AuditError::BadCheckpointLine { line: 1, .. })
        ));
    }
}
