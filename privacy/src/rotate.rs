//! KEK rotation: every live data key not yet wrapped by the target KEK is unwrapped (with the
//! KEKs of the ring) and wrapped again by the target, in batches of one transaction each.
//!
//! Safe to cut short and to run again: each row names the KEK that wraps it, so a second run
//! takes up the rows the first left, and a row is rewritten only if it is still what was
//! read (same KEK, not destroyed in between), so a rotation never brings back a key a
//! disposal destroyed meanwhile. Keys made meanwhile by instances that still wrap with an
//! older KEK are taken by the next run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use prconfirm_migrations::{on_db, Database};

use crate::envelope::KeyId;
use crate::error::UnwrapError;
use crate::kek::{Kek, KekRing};
use crate::PrivacyError;

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Keys now wrapped by the target KEK that were not before.
    pub rewrapped: u64,
    /// Keys left as they were because their KEK is not in the ring, by KEK id.
    pub not_held: BTreeMap<String, u64>,
    /// Keys left as they were because they do not open under the KEK they name (altered).
    pub damaged: u64,
}

impl Rotation {
    /// Whether every key read is now under the target KEK.
    pub fn is_complete(&self) -> bool {
        self.not_held.is_empty() && self.damaged == 0
    }
}

/// Re-wraps every live key in `db` under `target`, `batch` keys a transaction (at least
/// one), unwrapping with `ring`; `progress` is told the running count after each batch.
///
/// # Errors
/// Storage or randomness errors; work committed by earlier batches stays done.
pub async fn rotate(
    db: &Database,
    ring: &KekRing,
    target: &Kek,
    batch: u32,
    at: DateTime<Utc>,
    mut progress: impl FnMut(u64),
) -> Result<Rotation, PrivacyError> {
    let batch = i64::from(batch.max(1));
    let target_id = target.id().as_str();
    let mut done = Rotation::default();
    let mut after = String::new();
    let pick = "SELECT case_id, key_id, kek_id, wrapped FROM person_keys \
                WHERE wrapped IS NOT NULL AND kek_id <> $1 AND case_id > $2 \
                ORDER BY case_id LIMIT $3";
    let rewrap = "UPDATE person_keys SET kek_id = $1, wrapped = $2, rewrapped_at = $3 \
                  WHERE case_id = $4 AND kek_id = $5 AND wrapped IS NOT NULL";
    loop {
        let rows: Vec<(String, Vec<u8>, String, Vec<u8>)> =
            on_db!(db, |pool| sqlx::query_as(pick)
                .bind(target_id)
                .bind(&after)
                .bind(batch)
                .fetch_all(pool)
                .await)?;
        let Some((last, ..)) = rows.last() else {
            break;
        };
        after = last.clone();
        let mut updates = Vec::with_capacity(rows.len());
        for (case_id, key_id, kek_id, wrapped) in rows {
            let opened = KeyId::from_slice(&key_id)
                .ok_or(UnwrapError::DoesNotOpen)
                .and_then(|id| {
                    ring.unwrap_key(&kek_id, &case_id, &id, &wrapped)
                        .map(|key| (id, key))
                });
            match opened {
                Ok((id, key)) => {
                    let wrapped = target.wrap(&case_id, &id, &key)?;
                    updates.push((case_id, kek_id, wrapped));
                }
                Err(UnwrapError::KekNotHeld(kek)) => *done.not_held.entry(kek).or_default() += 1,
                Err(UnwrapError::DoesNotOpen) => done.damaged += 1,
            }
        }
        let begin = db.begin_write();
        let rewrapped: u64 = on_db!(db, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let mut n = 0;
            for (case_id, kek_id, wrapped) in &updates {
                n += sqlx::query(rewrap)
                    .bind(target_id)
                    .bind(wrapped.as_slice())
                    .bind(at)
                    .bind(case_id)
                    .bind(kek_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok::<u64, sqlx::Error>(n)
        })?;
        done.rewrapped += rewrapped;
        progress(done.rewrapped);
    }
    Ok(done)
}
