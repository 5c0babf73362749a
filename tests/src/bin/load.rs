//! `load`: drives the real `prconfirm` binary over HTTP and prints what it measured, beside
//! pgbench on the same PostgreSQL (`src/load.rs`, `scripts/bench-http`, BENCHMARKS.md).

#![allow(clippy::print_stdout)]

use std::time::Duration;

use clap::Parser;
use prconfirm_tests::drills::harness::Backend;
use prconfirm_tests::load::{self, Plan, Scenario};

/// Load against the real prconfirm binary, over HTTP.
#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum, default_value_t = Scenario::Address)]
    scenario: Scenario,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sqlite,postgres"
    )]
    backends: Vec<Backend>,
    /// Connections (closed loop) or seats (constant arrival), each figure in a run of its
    /// own; a comma-separated list.
    #[arg(long, value_delimiter = ',', default_value = "32")]
    connections: Vec<usize>,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Requests per second at constant arrival (latency from the intended send time);
    /// without it, closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Cases generated before the server starts (`prconfirm generate`).
    #[arg(long, default_value_t = 0)]
    existing_cases: u64,
    /// Print each run as a markdown table row (after a header) instead of the full report.
    #[arg(long)]
    markdown: bool,
    /// With --markdown: no header line.
    #[arg(long)]
    no_header: bool,
    /// Instead of a scenario: the batch-invitation benchmark, this many rows over HTTP and
    /// as many from a file by `prconfirm invite --file` (a multiple of four).
    #[arg(long)]
    batch_rows: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(rows) = args.batch_rows {
        for backend in &args.backends {
            println!(
                "{}",
                prconfirm_tests::batch::run(*backend, rows).await?.render()
            );
        }
        return Ok(());
    }
    if args.markdown && !args.no_header {
        println!("{}", load::TABLE_HEADER);
    }
    for backend in &args.backends {
        for &connections in &args.connections {
            let report = load::run(Plan {
                backend: *backend,
                scenario: args.scenario,
                connections,
                duration: Duration::from_secs(args.seconds),
                rate: args.rate,
                existing_cases: args.existing_cases,
            })
            .await?;
            if args.markdown {
                println!("{}", report.row());
            } else {
                println!("{}", report.render());
            }
        }
    }
    Ok(())
}
