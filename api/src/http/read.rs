//! Reading a view at least as new as a version the caller saw (read your writes).

use super::error::ApiError;
use crate::state::AppState;

/// Reads a view of `case_id` with `read` (which answers the version it reflects and the
/// value), waiting up to the configured bound for it to reach `min_version`; 503
/// `view_behind` if it does not. A version the case's log has not reached (or a case it does
/// not hold) is refused at once with 422: waiting would not bring it.
pub async fn read_at_least<T, F, Fut>(
    state: &AppState,
    case_id: &str,
    min_version: Option<u64>,
    read: F,
) -> Result<Option<(u64, T)>, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<(u64, T)>, ApiError>>,
{
    let deadline = tokio::time::Instant::now() + state.settings.min_version_wait;
    let mut checked_log = false;
    loop {
        // Ask to be woken before reading, so a batch landing in between is not missed.
        let applied = state.projections.applied.notified();
        let found = read().await?;
        let reached = match (&found, min_version) {
            (_, None) => true,
            (Some((v, _)), Some(min)) => *v >= min,
            (None, Some(_)) => false,
        };
        if reached {
            return Ok(found);
        }
        if let Some(min) = min_version {
            if !checked_log {
                checked_log = true;
                let logged = state.cases.version(case_id).await?;
                if logged.is_none_or(|v| v < min) {
                    return Err(ApiError::Invalid {
                        code: "version_not_reached",
                        detail: format!("min_version {min} is beyond the case's version"),
                    });
                }
            }
        }
        // Woken by this instance's runner, or polling for one that runs elsewhere.
        let nap = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::ViewBehind(min_version.unwrap_or_default()));
        }
        let _ = tokio::time::timeout_at(nap.min(deadline), applied).await;
    }
}
