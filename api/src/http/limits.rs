//! Sizes the edge enforces before any handler runs.

/// Largest JSON body any route accepts.
pub const JSON_LIMIT: usize = 64 * 1024;
