//! `prconfirm`: see `prconfirm --help`.

use clap::Parser;
use prconfirm_api::cli::{self, Cli};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cli::run(Cli::parse()).await
}
