//! The case aggregate: one applicant's confirmation, from invitation to the mailed PR card.

mod command;
mod deadline;
mod decide;
mod error;
mod event;
pub mod personal;
mod stage_name;
mod state;

#[cfg(test)]
mod tests;

pub use command::{CaseCommand, CaseRequest, Ctx};
pub use deadline::{
    ecopr_download_by, Deadline, DeadlineKind, DeadlinePolicy, ECOPR_DOWNLOAD_DAYS,
};
pub use decide::MAX_LEASE_HOURS;
pub use error::{CaseError, Requirement};
pub use event::{upcast, CaseEvent, CaseFile, ReturnReason};
pub use stage_name::StageName;
pub use state::{
    Addresses, Case, Claim, Ecopr, Granted, Note, PhotoState, Progress, Referral, Stage,
    UploadedPhoto,
};

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;

impl Aggregate for Case {
    const TYPE: &'static str = "case";
    type Command = CaseRequest;
    type Event = CaseEvent;
    type Error = CaseError;
    type Services = ();

    async fn handle(
        &mut self,
        request: CaseRequest,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), CaseError> {
        let events = self.decide(&request.command, &request.ctx)?;
        // `EventSink::write` applies each event to the aggregate it is given, and cqrs-es 0.5
        // then applies the same events again to that aggregate when it builds a snapshot, so
        // a snapshot would hold every new event twice. The events go to a scratch copy; the
        // loaded case stays as loaded and the snapshot applies them exactly once.
        let mut scratch = self.clone();
        for event in events {
            sink.write(event, &mut scratch).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: CaseEvent) {
        self.apply_event(event);
    }
}
