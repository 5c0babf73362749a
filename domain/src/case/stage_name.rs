//! The name of each stage a case can be in: what views, events and answers say of it.

use serde::{Deserialize, Serialize};

/// The stage's name, for errors, the API and read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    New,
    Invited,
    AwaitingAccount,
    AwaitingPasswordChange,
    Confirming,
    OnHold,
    PrGranted,
    CardOrdered,
    CardMailed,
    Referred,
    Withdrawn,
}

impl StageName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Invited => "invited",
            Self::AwaitingAccount => "awaiting_account",
            Self::AwaitingPasswordChange => "awaiting_password_change",
            Self::Confirming => "confirming",
            Self::OnHold => "on_hold",
            Self::PrGranted => "pr_granted",
            Self::CardOrdered => "card_ordered",
            Self::CardMailed => "card_mailed",
            Self::Referred => "referred",
            Self::Withdrawn => "withdrawn",
        }
    }
}

impl std::fmt::Display for StageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
