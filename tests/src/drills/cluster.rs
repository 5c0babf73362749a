//! A throwaway PostgreSQL cluster for the drills that stop PostgreSQL: `initdb` into a
//! temporary directory, served on a free port of the loopback interface, stopped and started
//! with `pg_ctl` as the drill says, and removed at the end. Never the machine's own cluster.
//!
//! PostgreSQL refuses to run as root, so as root the cluster belongs to (and its programs run
//! as) the `postgres` user. Its programs come from `PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin`, else `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context};

/// A cluster of the drill's own.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

/// The directory of PostgreSQL's programs (`pg_ctl`, `pg_dump`, ...); empty for `PATH`.
pub fn pg_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("PG_BIN") {
        return PathBuf::from(bin);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().unwrap_or_default()
}

impl Cluster {
    /// Makes and starts a cluster.
    ///
    /// # Errors
    /// If `initdb` or `pg_ctl` fails or cannot be found.
    pub fn start_new() -> anyhow::Result<Self> {
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let dir = tempfile::Builder::new()
            .prefix("prconfirm-drill-pg")
            .tempdir()?;
        let cluster = Self {
            dir,
            bin: pg_bin(),
            port: super::harness::free_port(),
            as_postgres,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(cluster.dir.path())
                .status()?;
            ensure!(
                status.success(),
                "cannot give the cluster's directory to postgres"
            );
        }
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                path(&data)?,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        cluster.start()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The cluster's URL (its `postgres` database).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let exe = self.bin.join(program);
        let exe = if exe.exists() {
            exe
        } else {
            PathBuf::from(program)
        };
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        ensure!(
            out.status.success(),
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Starts the cluster and waits until it takes connections.
    ///
    /// # Errors
    /// If `pg_ctl start` fails.
    pub fn start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 \
             -c shared_buffers=64MB -c fsync=on -c synchronous_commit=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                path(&self.data())?,
                "-o",
                &options,
                "-l",
                path(&log)?,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Stops the cluster in `mode` (`immediate`: as in a crash, recovery at the next start;
    /// `fast`: connections cut, a clean shutdown).
    ///
    /// # Errors
    /// If `pg_ctl stop` fails.
    pub fn stop(&self, mode: &str) -> anyhow::Result<()> {
        self.run(
            "pg_ctl",
            &["-D", path(&self.data())?, "-m", mode, "-w", "stop"],
        )
    }
}

impl Cluster {
    /// Stops the cluster, sets its next transaction to `xid` of `epoch` with `pg_resetwal`
    /// (as a restore onto a new machine must, docs/operations.md) and starts it again.
    ///
    /// # Errors
    /// If a step fails.
    pub fn reset_xid(&self, epoch: u64, xid: u64) -> anyhow::Result<()> {
        self.stop("fast")?;
        self.run(
            "pg_resetwal",
            &[
                "-e",
                &epoch.to_string(),
                "-x",
                &xid.to_string(),
                "-D",
                path(&self.data())?,
            ],
        )?;
        self.start()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
    }
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("a path that is not UTF-8")
}
