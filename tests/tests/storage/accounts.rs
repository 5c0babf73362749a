//! Guessing throttles on a real store: however many wrong passwords arrive at once, only the
//! allowed number is ever checked, and the right one is refused while the wait runs.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Duration;
use prconfirm_commands::accounts::mfa::{self, MfaKey};
use prconfirm_commands::accounts::{AccountError, Accounts, NewSession, PasswordHasherPool};
use prconfirm_commands::{ActorRole, Clock, ManualClock};
use prconfirm_migrations::Database;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(
    concurrent_wrong_passwords_are_checked_at_most_the_allowed_number_of_times,
    concurrent_wrong_current_passwords_are_checked_at_most_the_allowed_number_of_times,
    strangers_guessing_from_many_addresses_cannot_lock_the_real_user_out,
    a_second_factor_code_opens_one_session_however_often_it_is_sent,
    codes_of_the_current_and_previous_step_only_and_never_for_a_disabled_account,
    the_database_holds_second_factor_secrets_only_sealed,
);

const PASSWORD: &str = "a long passphrase of my own choosing";
/// Wrong tries an account gets from one address before each further one must wait.
const FREE_TRIES: usize = 5;

fn accounts(db: &Database) -> (Accounts, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start()));
    let accounts = Accounts::new(
        db.clone(),
        PasswordHasherPool::new().unwrap(),
        clock.clone(),
        MfaKey::from_bytes([7; 32]),
    );
    (accounts, clock)
}

/// Creates the officer of these tests; answers their second factor's enrolment URI.
async fn enrol(accounts: &Accounts) -> String {
    let enrolment = accounts
        .create_staff("officer.a", ActorRole::Officer, PASSWORD.into())
        .await
        .unwrap();
    enrolment.uri().to_owned()
}

/// The officer signing in with the right password and their authenticator's code at the
/// clock's time, from `from`.
async fn right(
    accounts: &Accounts,
    uri: &str,
    clock: &ManualClock,
    from: IpAddr,
) -> Result<NewSession, AccountError> {
    accounts
        .sign_in("officer.a", PASSWORD.into(), Some(&code(uri, clock)), from)
        .await
}

/// The code the officer's authenticator shows at the clock's time.
fn code(uri: &str, clock: &ManualClock) -> String {
    mfa::code_for(uri, clock.now()).unwrap()
}

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// How many of `outcomes` were checked (a wrong password) and how many were told to wait.
fn tally<T>(outcomes: Vec<Result<T, AccountError>>) -> (usize, usize) {
    let mut checked = 0;
    let mut throttled = 0;
    for outcome in outcomes {
        match outcome {
            Err(AccountError::InvalidCredentials) => checked += 1,
            Err(AccountError::TooManyAttempts { retry_after_secs }) => {
                assert!(retry_after_secs >= 1);
                throttled += 1;
            }
            Err(other) => panic!("unexpected {other}"),
            Ok(_) => panic!("a wrong password was taken"),
        }
    }
    (checked, throttled)
}

async fn concurrent_wrong_passwords_are_checked_at_most_the_allowed_number_of_times(db: Database) {
    let (accounts, clock) = accounts(&db);
    let uri = enrol(&accounts).await;
    let from = address("192.0.2.10");

    let tries = (0..30).map(|i| {
        let accounts = accounts.clone();
        async move {
            accounts
                .sign_in("officer.a", format!("wrong guess number {i}"), None, from)
                .await
        }
    });
    let (checked, throttled) = tally(futures::future::join_all(tries).await);

    assert_eq!(
        (checked, throttled),
        (FREE_TRIES, 30 - FREE_TRIES),
        "every try beyond the free ones waits, however many arrive at once"
    );
    let refused = right(&accounts, &uri, &clock, from).await;
    assert!(
        matches!(refused, Err(AccountError::TooManyAttempts { .. })),
        "the right password waits too: {refused:?}"
    );
    clock.advance(Duration::seconds(1));
    right(&accounts, &uri, &clock, from)
        .await
        .expect("the right password once the wait is over");
}

async fn concurrent_wrong_current_passwords_are_checked_at_most_the_allowed_number_of_times(
    db: Database,
) {
    let (accounts, clock) = accounts(&db);
    let uri = enrol(&accounts).await;
    let session = right(&accounts, &uri, &clock, address("192.0.2.10"))
        .await
        .unwrap();
    let principal = accounts
        .authenticate(&session.token)
        .await
        .unwrap()
        .unwrap();

    let tries = (0..30).map(|i| {
        let (accounts, principal) = (accounts.clone(), principal.clone());
        async move {
            accounts
                .change_password(
                    &principal,
                    format!("wrong current password {i}"),
                    "a new passphrase nobody guesses".into(),
                    &[],
                )
                .await
        }
    });
    let (checked, throttled) = tally(futures::future::join_all(tries).await);

    assert_eq!((checked, throttled), (FREE_TRIES, 30 - FREE_TRIES));
    let refused = accounts
        .change_password(
            &principal,
            PASSWORD.into(),
            "a new passphrase nobody guesses".into(),
            &[],
        )
        .await;
    assert!(
        matches!(refused, Err(AccountError::TooManyAttempts { .. })),
        "{refused:?}"
    );
    clock.advance(Duration::seconds(1));
    accounts
        .change_password(
            &principal,
            PASSWORD.into(),
            "a new passphrase nobody guesses".into(),
            &[],
        )
        .await
        .expect("the right current password once the wait is over");
}

async fn strangers_guessing_from_many_addresses_cannot_lock_the_real_user_out(db: Database) {
    let (accounts, clock) = accounts(&db);
    let uri = enrol(&accounts).await;
    let home = address("192.0.2.10");
    right(&accounts, &uri, &clock, home)
        .await
        .expect("the officer signs in from the office");

    // Strangers guess from forty addresses, three times each, one guess every two seconds.
    for n in 0..40 {
        let stranger = address(&format!("198.51.100.{n}"));
        for i in 0..3 {
            let outcome = accounts
                .sign_in(
                    "officer.a",
                    format!("stranger {n} guess {i}"),
                    None,
                    stranger,
                )
                .await;
            assert!(
                matches!(
                    outcome,
                    Err(AccountError::InvalidCredentials | AccountError::TooManyAttempts { .. })
                ),
                "{outcome:?}"
            );
            clock.advance(Duration::seconds(2));
        }
    }

    // The address the officer signed in from before is not theirs to hold up.
    right(&accounts, &uri, &clock, home)
        .await
        .expect("the officer's own address is not locked out by strangers");

    // A new stranger waits, but only briefly: the account's back-off is capped low.
    let newcomer = address("203.0.113.7");
    let Err(AccountError::TooManyAttempts { retry_after_secs }) = accounts
        .sign_in("officer.a", "one more guess".into(), None, newcomer)
        .await
    else {
        panic!("a new address is slowed down while the account is under attack");
    };
    assert!(
        retry_after_secs <= 120,
        "the account-wide wait is capped at two minutes: {retry_after_secs} s"
    );

    // The officer from a new address (a hotel) waits at most that long, then gets in.
    let hotel = address("203.0.113.99");
    // A code of a new step: the office's sign-in used this one's.
    clock.advance(Duration::seconds(30));
    match right(&accounts, &uri, &clock, hotel).await {
        Ok(_) => {}
        Err(AccountError::TooManyAttempts { retry_after_secs }) => {
            assert!(retry_after_secs <= 120, "{retry_after_secs} s");
            clock.advance(Duration::seconds(i64::try_from(retry_after_secs).unwrap()));
            right(&accounts, &uri, &clock, hotel)
                .await
                .expect("the officer gets in once the short wait is over");
        }
        Err(other) => panic!("{other}"),
    }

    // The officer's own mistakes from the office count against the office only: five, then
    // the office waits, and the strangers' tries never added to it.
    for i in 0..5 {
        let outcome = accounts
            .sign_in("officer.a", format!("a typo {i}"), None, home)
            .await;
        assert!(
            matches!(outcome, Err(AccountError::InvalidCredentials)),
            "{outcome:?}"
        );
    }
    let outcome = right(&accounts, &uri, &clock, home).await;
    assert!(
        matches!(
            outcome,
            Err(AccountError::TooManyAttempts {
                retry_after_secs: 1
            })
        ),
        "{outcome:?}"
    );
}

async fn a_second_factor_code_opens_one_session_however_often_it_is_sent(db: Database) {
    let (accounts, clock) = accounts(&db);
    let uri = enrol(&accounts).await;
    let code = code(&uri, &clock);
    let from = address("192.0.2.10");
    let tries = (0..FREE_TRIES).map(|_| {
        let (accounts, code) = (accounts.clone(), code.clone());
        async move {
            accounts
                .sign_in("officer.a", PASSWORD.into(), Some(&code), from)
                .await
        }
    });
    let outcomes = futures::future::join_all(tries).await;
    let opened = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(AccountError::InvalidCredentials)))
        .count();
    assert_eq!((opened, refused), (1, FREE_TRIES - 1), "{outcomes:?}");
}

async fn codes_of_the_current_and_previous_step_only_and_never_for_a_disabled_account(
    db: Database,
) {
    let (accounts, clock) = accounts(&db);
    let uri = enrol(&accounts).await;
    let from = address("192.0.2.10");
    let sign_in = |otp: Option<String>| {
        let accounts = accounts.clone();
        async move {
            accounts
                .sign_in("officer.a", PASSWORD.into(), otp.as_deref(), from)
                .await
        }
    };
    let invalid = |outcome: Result<_, AccountError>| {
        assert!(
            matches!(outcome, Err(AccountError::InvalidCredentials)),
            "{outcome:?}"
        );
    };

    invalid(sign_in(None).await);
    // A code typed as the step turned still opens; one two steps old does not.
    let two_steps_old = code(&uri, &clock);
    clock.advance(Duration::seconds(30));
    let previous = code(&uri, &clock);
    clock.advance(Duration::seconds(30));
    invalid(sign_in(Some(two_steps_old)).await);
    sign_in(Some(previous.clone()))
        .await
        .expect("the previous step's code");
    // Used once, that step and every earlier one are spent.
    invalid(sign_in(Some(previous)).await);
    let session = sign_in(Some(code(&uri, &clock)))
        .await
        .expect("the current step's code, not used yet");

    accounts.disable_staff("officer.a").await.unwrap();
    assert!(accounts
        .authenticate(&session.token)
        .await
        .unwrap()
        .is_none());
    clock.advance(Duration::seconds(30));
    invalid(sign_in(Some(code(&uri, &clock))).await);
    accounts.enable_staff("officer.a").await.unwrap();
    sign_in(Some(code(&uri, &clock)))
        .await
        .expect("enabled again, with a fresh code");
    assert!(matches!(
        accounts.disable_staff("nobody.here").await,
        Err(AccountError::NoSuchStaff(_))
    ));
}

async fn the_database_holds_second_factor_secrets_only_sealed(db: Database) {
    let (accounts, clock) = accounts(&db);
    let uri = enrol(&accounts).await;
    let secret = totp_rs::TOTP::from_url(&uri).unwrap().secret;
    let sql = "SELECT mfa_secret FROM accounts WHERE username = 'officer.a'";
    let sealed: Vec<u8> =
        prconfirm_migrations::on_db!(&db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)
            .unwrap();
    assert!(sealed.len() > secret.len());
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));

    // Under another key (a database copied without its key file), nothing opens.
    let elsewhere = Accounts::new(
        db.clone(),
        PasswordHasherPool::new().unwrap(),
        clock.clone(),
        MfaKey::from_bytes([8; 32]),
    );
    let outcome = elsewhere
        .sign_in(
            "officer.a",
            PASSWORD.into(),
            Some(&code(&uri, &clock)),
            address("192.0.2.10"),
        )
        .await;
    assert!(
        matches!(outcome, Err(AccountError::InvalidCredentials)),
        "{outcome:?}"
    );
    // Its listing says a factor is enrolled and shows nothing of it.
    let listed = accounts.list_staff().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].second_factor && listed[0].disabled_at.is_none());
}
