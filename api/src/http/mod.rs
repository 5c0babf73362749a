//! What every route shares and no route owns: the error type, the request's context, the
//! extractors, the caller, and the answer a command gives. Nothing here imports a route or
//! a middleware.

pub mod access;
pub mod answer;
pub mod caller;
pub mod error;
pub mod extract;
pub mod limits;
pub mod read;
pub mod request;
pub mod serve;

pub use answer::{answer, execute, run_command};
pub use caller::{Caller, IdempotencyKey};
pub use error::ApiError;
pub use extract::{JsonBody, QueryParams};
