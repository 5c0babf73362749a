//! A read model as a consumer of the runtime: each round is one batch on the live
//! generation; after a failure, one event at a time, so that the projection stops exactly at
//! the event it cannot apply.

use async_trait::async_trait;
use prconfirm_migrations::on_conn;
use prconfirm_privacy::PersonKeys;

use super::batch::{run_batch, Target};
use super::generation::ensure;
use crate::models::ReadModel;
use crate::runtime::{Consumer, Kind, Position, Round, RoundError};
use crate::store::Conn;

/// Keeps one projection's live generation up to date.
#[derive(Debug)]
pub struct ReadModelConsumer {
    model: ReadModel,
    batch: u32,
    keys: PersonKeys,
}

impl ReadModelConsumer {
    /// `model`, `batch` events at a time while keeping up, personal fields opened with `keys`.
    pub fn new(model: ReadModel, batch: u32, keys: PersonKeys) -> Self {
        Self {
            model,
            batch: batch.max(1),
            keys,
        }
    }
}

impl From<super::tx::RunError> for RoundError {
    fn from(e: super::tx::RunError) -> Self {
        match e {
            super::tx::RunError::Database(e) => Self::Database(e),
            other => Self::Failed(other.to_string()),
        }
    }
}

#[async_trait]
impl Consumer for ReadModelConsumer {
    fn name(&self) -> &'static str {
        self.model.name()
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel
    }

    async fn start(&self, conn: &mut Conn<'_>) -> Result<(), RoundError> {
        ensure(conn, &self.model).await?;
        Ok(())
    }

    async fn round(&self, conn: &mut Conn<'_>, failures: u32) -> Result<Round, RoundError> {
        // After a failure, go one event at a time to find the one that fails.
        let limit = if failures > 0 { 1 } else { self.batch };
        let done = run_batch(conn, &self.keys, &self.model, Target::Live, limit).await?;
        Ok(Round {
            passed: done.read,
            more: done.read >= limit as usize,
            position: Some(Position {
                cursor: done.cursor,
                generation: Some(done.generation),
                events_applied: Some(done.events_applied),
            }),
        })
    }

    /// A batch that goes through clears the stall itself (with the checkpoint it moves).
    async fn mark_stalled(
        &self,
        conn: &mut Conn<'_>,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let Some(error) = error else { return Ok(()) };
        let sql = "UPDATE projection_checkpoints SET stalled_at = \
                   CAST(tx AS TEXT) || '.' || CAST(position AS TEXT), stalled_error = $2 \
                   WHERE name = $1 AND generation = \
                   (SELECT live_generation FROM projections WHERE name = $1)";
        on_conn!(conn, |c| sqlx::query(sql)
            .bind(self.model.name())
            .bind(error)
            .execute(&mut **c)
            .await
            .map(drop))
    }
}
