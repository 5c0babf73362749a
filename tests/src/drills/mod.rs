//! Failure drills: the real binary under a fault (a SIGKILL, PostgreSQL crashed or out of
//! reach, a race, an instance lost, a SIGTERM under load, a blob store that cannot be
//! written, the machine lost and its backup restored), each checking the property the service promises through it. Run by
//! `src/bin/drill.rs` (`scripts/drills/<name>`); each drill answers a one-line report or the
//! property that failed.

pub mod backup;
pub mod blobs;
pub mod cluster;
pub mod conflict;
pub mod crash;
pub mod harness;
pub mod instances;
pub mod load;
pub mod outage;
pub mod sigterm;
