//! Why a personal-data operation failed.

use std::collections::BTreeMap;

use crate::envelope::EnvelopeError;
use crate::keyfile::KeyError;

/// Why a personal-data operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// A field of a person whose data was disposed of cannot be sealed: no key is ever made
    /// again for them.
    #[error("the personal data of case {0} was disposed of")]
    Disposed(String),
    /// The case never had a data key, so none of its fields was ever sealed.
    #[error("case {0} has no data key")]
    NoKey(String),
    /// The case's data key cannot be unwrapped here.
    #[error("the data key of case {case_id} cannot be unwrapped: {source}")]
    Unwrap {
        case_id: String,
        source: UnwrapError,
    },
    /// Data keys are wrapped by KEKs this instance does not hold (KEK id: keys).
    #[error(
        "data keys are wrapped by key-encryption keys this instance does not hold: {}",
        describe(.0)
    )]
    KeksNotHeld(BTreeMap<String, u64>),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("no randomness for a key: {0}")]
    Random(String),
    #[error("a data key could not be wrapped")]
    Wrapping,
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

fn describe(not_held: &BTreeMap<String, u64>) -> String {
    not_held
        .iter()
        .map(|(kek, n)| format!("KEK {kek} wraps {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The failure to unwrap a data key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnwrapError {
    /// The key was wrapped by a KEK this instance does not hold.
    #[error("the data key was wrapped by KEK {0}, which is not held here")]
    KekNotHeld(String),
    /// The wrapped bytes do not open for this case under the KEK that claims them: altered,
    /// or moved from another case's row.
    #[error("the wrapped data key does not open for its case")]
    DoesNotOpen,
}
