//! The reactions to the log that need the write side (the eCoPR documents, account creation,
//! the case's clock), and the runtime every consumer of this instance runs in.
//!
//! | consumer | kind | what it does | on a failing item |
//! | --- | --- | --- | --- |
//! | `case_views`, `stats`, `deadlines` | read model | the views | stops there; never skips |
//! | `mail` | reactor | composes e-mails into the outbox | parks it |
//! | `mail_delivery` | reactor | sends the outbox (SMTP or `.eml` files) | parks it |
//! | `ecopr` | reactor | makes the eCoPR PDF and its `documents` row | parks it |
//! | `accounts` | reactor | creates the account after an acceptance | parks it |
//! | `clock` | reactor | issues the commands of due deadlines | parks a refused one |

pub mod accounts;
pub mod clock;
pub mod ecopr;
mod item;

use std::time::Duration;

use prconfirm_projections::mail::{MailComposer, MailSender, Outlet};
use prconfirm_projections::runner::ReadModelConsumer;
use prconfirm_projections::runtime::{ReactorConsumer, Runtime};

use crate::settings::Settings;
use crate::state::AppState;

pub use crate::settings::CONSUMERS as ALL;

/// The runtime with the consumers `settings` asks this instance to run.
pub fn runtime(settings: &Settings, state: &AppState, outlet: Outlet) -> Runtime {
    let wanted = |name: &str| settings.runs_consumer(name);
    let batch = settings.workers.projection_batch;
    let keys = &state.privacy.persons;
    let mut runtime = Runtime::new(state.db.clone(), state.projections.clone());
    for model in settings.read_models(&state.privacy.blind_index) {
        if wanted(model.name()) {
            runtime = runtime.with(ReadModelConsumer::new(model, batch, keys.clone()));
        }
    }
    if wanted("mail") {
        runtime = runtime.with(ReactorConsumer::new(
            MailComposer::new(keys.clone()),
            batch,
            keys.clone(),
        ));
    }
    if wanted("mail_delivery") {
        runtime = runtime.with(MailSender::new(outlet));
    }
    if wanted("ecopr") {
        let reactor = ecopr::EcoprReactor {
            cases: state.cases.clone(),
            accounts: state.accounts.clone(),
            blobs: state.blobs.clone(),
        };
        runtime = runtime.with(ReactorConsumer::new(reactor, batch, keys.clone()));
    }
    if wanted("accounts") {
        let reactor = accounts::AccountsReactor {
            cases: state.cases.clone(),
            accounts: state.accounts.clone(),
            temporary_password_valid_for: state.settings.temporary_password_valid_for,
        };
        runtime = runtime.with(ReactorConsumer::new(reactor, batch, keys.clone()));
    }
    if wanted("clock") && settings.workers.scheduler_interval_ms > 0 {
        let interval = Duration::from_millis(settings.workers.scheduler_interval_ms);
        runtime = runtime.with(clock::Scheduler::new(state.cases.clone(), interval));
    }
    runtime
}
