//! `drill NAME [--size N] ...`: one failure drill against the real binary; exits non-zero
//! when the property it checks fails (`scripts/drills/`, `docs/operations.md`).

#![allow(clippy::print_stdout)]

use std::time::Duration;

use clap::{Parser, Subcommand};
use prconfirm_tests::drills::harness::Backend;
use prconfirm_tests::drills::{
    backup, blobs, conflict, crash, crash::Fault, instances, outage, sigterm,
};

#[derive(Debug, Parser)]
#[command(about = "Failure drills against the real prconfirm binary")]
struct Args {
    #[command(subcommand)]
    drill: Drill,
}

#[derive(Debug, Subcommand)]
enum Drill {
    /// SIGKILL of the server during N concurrent keyed commands, retried until answered.
    Kill {
        #[arg(long, default_value_t = 1000)]
        commands: usize,
        #[arg(long, default_value_t = 1000)]
        concurrency: usize,
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "sqlite,postgres"
        )]
        backends: Vec<Backend>,
    },
    /// PostgreSQL (a throwaway cluster) stopped in immediate mode and started again during
    /// N concurrent keyed commands.
    PgCrash {
        #[arg(long, default_value_t = 1000)]
        commands: usize,
        #[arg(long, default_value_t = 1000)]
        concurrency: usize,
        /// Seconds PostgreSQL stays down.
        #[arg(long, default_value_t = 2)]
        down_secs: u64,
    },
    /// PostgreSQL (a throwaway cluster) out of reach for a while: fast 503s, no 500, full
    /// service soon after its return.
    Outage {
        /// Seconds PostgreSQL stays down.
        #[arg(long, default_value_t = 30)]
        down_secs: u64,
    },
    /// Racers on one case: the same If-Match version, or none; one winner, one event.
    Conflict {
        /// How many cases (rounds of racers).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        #[arg(long, default_value_t = 50)]
        racers: usize,
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "sqlite,postgres"
        )]
        backends: Vec<Backend>,
    },
    /// Three instances on one PostgreSQL, the one running the consumers killed mid-load.
    Instances {
        #[arg(long, default_value_t = 1000)]
        commands: usize,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
    /// SIGTERM with requests in flight and clients at work: they finish, exit within 10 s.
    Sigterm {
        /// Requests inside the server (half their body sent) when the signal comes.
        #[arg(long, default_value_t = 50)]
        in_flight: usize,
        /// Clients inviting as fast as they can meanwhile.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "sqlite,postgres"
        )]
        backends: Vec<Backend>,
    },
    /// The blob store read-only, then full, during photo uploads.
    Blobs {
        /// Uploads at once while the store is broken (and as many after it is mended).
        #[arg(long, default_value_t = 4)]
        uploads: usize,
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "sqlite,postgres"
        )]
        backends: Vec<Backend>,
    },
    /// A backup taken while keyed commands go on, restored onto new storage and served.
    Backup {
        /// Applicants walked in (with a photo) before the load.
        #[arg(long, default_value_t = 3)]
        families: usize,
        #[arg(long, default_value_t = 1000)]
        commands: usize,
        #[arg(long, default_value_t = 100)]
        concurrency: usize,
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "sqlite,postgres"
        )]
        backends: Vec<Backend>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args.drill).await {
        Ok(reports) => {
            for r in reports {
                println!("PASS {r}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            println!("FAIL {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(drill: Drill) -> anyhow::Result<Vec<String>> {
    let mut reports = Vec::new();
    match drill {
        Drill::Kill {
            commands,
            concurrency,
            backends,
        } => {
            for backend in backends {
                reports.push(format!(
                    "kill: {}",
                    crash::run(backend, Fault::KillServer, commands, concurrency).await?
                ));
            }
        }
        Drill::PgCrash {
            commands,
            concurrency,
            down_secs,
        } => reports.push(format!(
            "pg-crash: {}",
            crash::run(
                Backend::Postgres,
                Fault::CrashPostgres(Duration::from_secs(down_secs)),
                commands,
                concurrency
            )
            .await?
        )),
        Drill::Outage { down_secs } => reports.push(format!(
            "outage: {}",
            outage::run(Duration::from_secs(down_secs)).await?
        )),
        Drill::Conflict {
            rounds,
            racers,
            backends,
        } => {
            for backend in backends {
                reports.push(format!(
                    "conflict: {}",
                    conflict::run(backend, rounds, racers).await?
                ));
            }
        }
        Drill::Instances {
            commands,
            concurrency,
        } => reports.push(format!(
            "instances: {}",
            instances::run(commands, concurrency).await?
        )),
        Drill::Sigterm {
            in_flight,
            clients,
            backends,
        } => {
            for backend in backends {
                reports.push(format!(
                    "sigterm: {}",
                    sigterm::run(backend, in_flight, clients).await?
                ));
            }
        }
        Drill::Blobs { uploads, backends } => {
            for backend in backends {
                reports.push(format!("blobs: {}", blobs::run(backend, uploads).await?));
            }
        }
        Drill::Backup {
            families,
            commands,
            concurrency,
            backends,
        } => {
            for backend in backends {
                reports.push(format!(
                    "backup: {}",
                    backup::run(backend, families, commands, concurrency).await?
                ));
            }
        }
    }
    Ok(reports)
}
