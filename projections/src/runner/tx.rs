//! The runner's transactions (one per batch, planned for its own arguments) and its error.

use crate::feed::FeedError;
use crate::models::ApplyError;
use crate::store::Conn;

/// A failure of a projection batch or of the runner's connection.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("projection {0} is not registered")]
    Unknown(String),
    #[error("a rebuild of {0} is already running")]
    Busy(&'static str),
}

pub(crate) async fn begin(conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
    if conn.is_postgres() {
        conn.execute("BEGIN").await?;
        // Plan each batch's statements for its own arguments and the tables' size now. A
        // generic plan cached while a new generation's tables were empty (and not yet
        // analysed) scans them whole: the 1,000,000-case rebuild fell from 19,000 to 2,300
        // events/s on a `DELETE ... WHERE case_id = ANY($1)` planned that way.
        conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            .await
    } else {
        conn.execute("BEGIN IMMEDIATE").await
    }
}

/// Ends the transaction [`begin`] opened: commits if `result` is a success, else rolls back.
pub(crate) async fn finish<T>(
    conn: &mut Conn<'_>,
    result: Result<T, RunError>,
) -> Result<T, RunError> {
    match result {
        Ok(v) => {
            conn.execute("COMMIT").await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rollback) = conn.execute("ROLLBACK").await {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}
