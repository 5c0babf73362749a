//! The staff second factor, black-box: the real CLI enrols, disables, enables and resets
//! staff on the server's own database and key; the server signs staff in only with an
//! unused code of their authenticator.

use prconfirm_commands::accounts::mfa;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{TestServer, STAFF_PASSWORD};

on_both_backends!(
    staff_sign_in_needs_a_fresh_code_of_their_own_second_factor,
    a_disabled_account_is_shut_out_at_once_and_a_reset_factor_replaces_the_old_one,
);

async fn sign_in(server: &TestServer, username: &str, otp: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"username": username, "password": STAFF_PASSWORD});
    if let Some(otp) = otp {
        body["otp"] = json!(otp);
    }
    server
        .call(Method::POST, "/v1/sessions", None, Some(body))
        .await
}

fn code_now(uri: &str) -> String {
    mfa::code_for(uri, chrono::Utc::now()).unwrap()
}

/// `staff add` through the real binary; answers the one line it printed.
async fn staff_add(server: &TestServer, username: &str) -> String {
    let printed = server
        .cli_with_input(
            &[
                "staff",
                "add",
                "--username",
                username,
                "--role",
                "officer",
                "--password-stdin",
            ],
            &format!("{STAFF_PASSWORD}\n"),
        )
        .await;
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "{printed}");
    lines[0].to_owned()
}

async fn staff_sign_in_needs_a_fresh_code_of_their_own_second_factor(server: TestServer) {
    let uri = staff_add(&server, "officer.a").await;
    assert!(
        uri.starts_with("otpauth://totp/prconfirm:officer.a?secret=")
            && uri.ends_with("&issuer=prconfirm"),
        "{uri}"
    );
    let other = staff_add(&server, "officer.b").await;
    assert_ne!(uri, other, "each account has its own secret");

    // The right password without a code, or with a wrong one, or with another account's:
    // the same answer as a wrong password, so that none tells the password was right.
    let (_, wrong_password) = server.sign_in("officer.a", "not the password at all").await;
    for otp in [None, Some("000000x"), Some(code_now(&other).as_str())] {
        let (status, problem) = sign_in(&server, "officer.a", otp).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{otp:?}: {problem}");
        assert_eq!(problem["code"], "invalid_credentials");
        assert_eq!(problem["detail"], wrong_password["detail"]);
    }

    let code = code_now(&uri);
    let (status, session) = sign_in(&server, "officer.a", Some(&code)).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let token = session["token"].as_str().unwrap();
    let (status, _) = server
        .call(Method::GET, "/v1/queue", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // A code is good once: seen over someone's shoulder, it opens nothing more, even twice
    // at once.
    let replays =
        futures::future::join_all((0..4).map(|_| sign_in(&server, "officer.a", Some(&code)))).await;
    assert!(
        replays.iter().all(|(s, _)| *s == StatusCode::UNAUTHORIZED),
        "{replays:?}"
    );

    // `staff list` shows the accounts, never a secret.
    let list = server.cli(&["staff", "list"]).await;
    assert!(
        list.contains("officer.a\tofficer\tenabled\tenrolled"),
        "{list}"
    );
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert!(!list.contains(secret), "{list}");
}

async fn a_disabled_account_is_shut_out_at_once_and_a_reset_factor_replaces_the_old_one(
    server: TestServer,
) {
    let first = staff_add(&server, "officer.a").await;
    let (status, session) = sign_in(&server, "officer.a", Some(&code_now(&first))).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();

    server
        .cli(&["staff", "disable", "--username", "officer.a"])
        .await;
    let (status, _) = server
        .call(Method::GET, "/v1/queue", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the live session ended");
    let list = server.cli(&["staff", "list"]).await;
    assert!(
        list.contains("officer.a\tofficer\tdisabled since "),
        "{list}"
    );

    // A new factor while disabled: its fresh, unused code still opens nothing.
    let second = server
        .cli(&["staff", "reset-mfa", "--username", "officer.a"])
        .await
        .trim_end()
        .to_owned();
    assert!(second.starts_with("otpauth://totp/prconfirm:officer.a?secret="));
    assert_ne!(second, first);
    let (status, _) = sign_in(&server, "officer.a", Some(&code_now(&second))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a disabled account");

    server
        .cli(&["staff", "enable", "--username", "officer.a"])
        .await;
    let (status, _) = sign_in(&server, "officer.a", Some(&code_now(&first))).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old factor was replaced"
    );
    let (status, session) = sign_in(&server, "officer.a", Some(&code_now(&second))).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let (status, _) = server
        .call(Method::GET, "/v1/queue", Some(&token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "enabling brings no old session back"
    );
}
