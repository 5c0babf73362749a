//! What the workers share about an item that fails.

/// A command-side failure as a reactor item's: an outage (the database out of reach), a case
/// that cannot be read (refused: no retry can mend it), or this case's own trouble.
pub fn item_error(
    e: prconfirm_commands::CommandError,
) -> prconfirm_projections::runtime::ItemError {
    use prconfirm_commands::CommandError;
    use prconfirm_projections::runtime::ItemError;
    match e {
        CommandError::Unavailable(e) => ItemError::Outage(e.to_string()),
        CommandError::Corrupt(e) => ItemError::Refused(format!("the case cannot be read: {e}")),
        other => ItemError::Failed(other.to_string()),
    }
}
