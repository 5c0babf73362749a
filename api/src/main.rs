//! `prconfirm`: see `prconfirm --help`.

use clap::Parser;
use prconfirm_api::cli::{self, Cli};

/// mimalloc instead of the system allocator: the read models' batches allocate and free many
/// small values (decoded events, states, rows), and glibc's malloc took a quarter of a
/// rebuild's client time in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cli::run(Cli::parse()).await
}
