//! Black-box tests of prconfirm against real databases; the tests live under `tests/`. What
//! several of them share sits here: [`relay`], a real SMTP server for the delivery tests
//! (and the mail benchmark), [`proxy`], a TCP proxy that can play a stopped database,
//! [`run_cli`], the real binary's command line, and the failure [`drills`].

pub mod drills;
pub mod proxy;
pub mod relay;

use std::io::Write;
use std::process::{Command, Stdio};

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
