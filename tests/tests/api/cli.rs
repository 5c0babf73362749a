//! The command line: each subcommand shows, and takes, only the options it uses.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.push("--help");
    prconfirm_tests::run_cli(
        Command::new(env!("CARGO_BIN_EXE_prconfirm-blackbox")),
        &all,
        "",
    )
}

/// Before: every setting was global, so `staff add --help` listed the HTTP time-outs, the
/// SMTP relay and the service standards.
#[test]
fn each_subcommand_shows_only_the_options_it_uses() {
    let serve = help(&["serve"]);
    for flag in [
        "--listen",
        "--smtp-url",
        "--data-dir",
        "--audit-key",
        "--kek-file",
        "--consumers",
    ] {
        assert!(serve.contains(flag), "serve takes {flag}:\n{serve}");
    }
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &["migrate"],
            &["--data-dir", "--database-url"],
            &["--listen", "--mfa-key"],
        ),
        (
            &["staff"],
            &["--data-dir", "--mfa-key"],
            &[
                "--listen",
                "--smtp-url",
                "--consumers",
                "--invitation-days",
                "--kek-file",
            ],
        ),
        (
            &["audit"],
            &["--data-dir", "--audit-key"],
            &["--listen", "--smtp-url", "--standard-photo-review-hours"],
        ),
        (
            &["projections"],
            &["--data-dir", "--standard-photo-review-hours"],
            &["--listen", "--smtp-url", "--mfa-key"],
        ),
        (&["consumers"], &["--data-dir"], &["--listen", "--smtp-url"]),
        (
            &["privacy"],
            &[
                "--data-dir",
                "--kek-file",
                "--previous-kek",
                "--blind-index-key",
            ],
            &["--listen", "--smtp-url", "--mfa-key", "--audit-key"],
        ),
        (
            &["generate"],
            &["--data-dir", "--cases"],
            &["--listen", "--smtp-url"],
        ),
    ];
    for (command, shown, hidden) in cases {
        let text = help(command);
        for flag in *shown {
            assert!(text.contains(flag), "{command:?} takes {flag}:\n{text}");
        }
        for flag in *hidden {
            assert!(
                !text.contains(flag),
                "{command:?} does not take {flag}:\n{text}"
            );
        }
    }
}

/// A setting of another subcommand is refused, not silently ignored.
#[test]
fn a_setting_a_subcommand_does_not_use_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_prconfirm-blackbox"))
        .args(["migrate", "--listen", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--listen"), "{err}");
}
