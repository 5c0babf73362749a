//! What every request handler can reach.

use std::sync::Arc;

use prconfirm_commands::CaseService;
use prconfirm_migrations::Database;

/// Shared, cheaply cloned application state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Database,
    pub cases: Arc<CaseService>,
}

impl AppState {
    pub fn new(db: Database, cases: CaseService) -> Self {
        Self {
            db,
            cases: Arc::new(cases),
        }
    }
}
