//! Black-box tests of prconfirm against real databases; the tests live under `tests/`. What
//! they share sits here: [`server`], the harness of the HTTP tests (the real server on a
//! free port, in this process or as the real binary, over PostgreSQL or SQLite, and a client
//! that speaks to it as a caller would), [`relay`], a real SMTP server for the delivery tests
//! (and the mail benchmark), [`proxy`], a TCP proxy that can play a stopped database,
//! [`binary`] and [`run_cli`], the real binary and its command line, the failure
//! [`drills`], the HTTP [`load`] generator and the [`batch`]-invitation benchmark.

pub mod batch;
pub mod drills;
pub mod load;
pub mod proxy;
pub mod relay;
pub mod server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The real `prconfirm` binary under test: `PRCONFIRM_DRILL_BIN`, else `prconfirm-blackbox`
/// (the `prconfirm` program built by this crate from the same `main.rs`) beside the running
/// program or one directory up (a test binary runs from `deps/`), else `prconfirm` there.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("PRCONFIRM_DRILL_BIN") {
        return PathBuf::from(path);
    }
    let here = std::env::current_exe().unwrap_or_default();
    let dir = here.parent().unwrap_or(Path::new(".")).to_path_buf();
    let beside = dir.join("prconfirm-blackbox");
    let above = dir.parent().map(|d| d.join("prconfirm-blackbox"));
    if beside.exists() {
        return beside;
    }
    match above {
        Some(above) if above.exists() => above,
        _ => dir.join("prconfirm"),
    }
}

/// Runs `command` (the real binary, its environment set) with `args`, `input` on its
/// standard input; asserts it succeeded and answers what it printed on standard output.
///
/// # Panics
/// If it cannot start or fails.
#[allow(clippy::unwrap_used)]
pub fn run_cli(mut command: Command, args: &[&str], input: &str) -> String {
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prconfirm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
