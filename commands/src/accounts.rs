//! Accounts, passwords, sessions and invitation codes: the credentials side of the portal.
//!
//! Secrets never enter the event log. Passwords are Argon2id hashes; session tokens and
//! invitation codes are random and stored only as SHA-256; staff second-factor secrets are
//! sealed under a key outside the database ([`mfa`]). Hashing runs on blocking threads
//! behind a semaphore as wide as the machine, so a flood of sign-ins queues instead of
//! starving the server.

use std::net::IpAddr;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Duration, Utc};
use prconfirm_domain::values::PersonName;
use prconfirm_migrations::{on_conn, on_db, Conn, Database};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

use self::mfa::{Enrolment, MfaError, MfaKey};
use crate::clock::Clock;
use crate::metadata::ActorRole;

pub mod mfa;
pub mod policy;
pub mod throttle;
mod tokens;

pub use policy::{
    check_password_policy, PasswordPolicyError, PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS,
};

use throttle::{Limit, Subject, Taken};
use tokens::{random_from, READABLE};
pub use tokens::{random_token, token_hash};

/// A session ends after this long without a request.
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// How stale the idle timer may get before a request writes it again. A read then costs no
/// write (and no WAL flush) at all; a session may end up to this much before 30 idle minutes,
/// never after.
pub const SESSION_TOUCH_EVERY: Duration = Duration::seconds(30);
/// A session ends this long after sign-in, whatever happens.
pub const SESSION_ABSOLUTE: Duration = Duration::hours(12);
/// Sign-in tries of one account from one client address within [`throttle::WINDOW`] before
/// each further one waits, doubling from 1 s up to the window. Only that address's tries
/// count, so strangers elsewhere cannot add to it; a right password clears it.
pub const ACCOUNT_ADDRESS_LIMIT: Limit = Limit {
    free: 5,
    cap: throttle::WINDOW,
};
/// Sign-in tries from one client address over all accounts (guessing one common password
/// against many usernames), doubling up to the window.
pub const ADDRESS_LIMIT: Limit = Limit {
    free: 20,
    cap: throttle::WINDOW,
};
/// Sign-in tries of one account from every address it has not signed in from lately
/// ([`KNOWN_ADDRESS_FOR`]): guessing spread over many addresses. Its wait is capped low (2
/// minutes), so it slows such guessing without ever holding the real user up for long, and
/// it never applies at an address the user signed in from.
pub const ACCOUNT_LIMIT: Limit = Limit {
    free: 10,
    cap: Duration::minutes(2),
};
/// An address an account signed in from stays known (exempt from [`ACCOUNT_LIMIT`]) this long.
pub const KNOWN_ADDRESS_FOR: Duration = Duration::days(30);
/// Tries at the current password a session gets when changing it.
pub const CURRENT_PASSWORD_LIMIT: Limit = Limit {
    free: 5,
    cap: throttle::WINDOW,
};
/// Wrong invitation codes a client address may send before each further one waits.
pub const INVITATION_CODE_LIMIT: Limit = Limit {
    free: 10,
    cap: throttle::WINDOW,
};

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("the temporary password has expired")]
    TemporaryPasswordExpired,
    #[error("too many failed sign-ins; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("username {0} is taken")]
    UsernameTaken(String),
    #[error("no staff account {0}")]
    NoSuchStaff(String),
    #[error(transparent)]
    Mfa(#[from] MfaError),
    #[error(transparent)]
    Policy(#[from] PasswordPolicyError),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Argon2id hashing, bounded to the number of cores.
#[derive(Debug, Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// A real hash of a random password: unknown users are verified against it, so they cost
    /// the same work as known ones.
    decoy: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    // OWASP's first Argon2id choice: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasherPool {
    /// # Errors
    /// [`AccountError::Hashing`] if the decoy hash cannot be made.
    pub fn new() -> Result<Self, AccountError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let decoy = hash_now(&random_token(24))?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(cores)),
            decoy: Arc::new(decoy),
        })
    }

    /// Hashes `password` (PHC string).
    ///
    /// # Errors
    /// [`AccountError::Hashing`].
    pub async fn hash(&self, password: String) -> Result<String, AccountError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))?
    }

    /// Verifies `password` against `hash`, or against the decoy when there is no account, so
    /// that both cases do the same work. Answers `false` for the decoy.
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.as_ref().clone());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        known && ok
    }
}

fn hash_now(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hashing(e.to_string()))
}

/// A signed-in caller, as the session says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: String,
    pub role: ActorRole,
    /// The applicant's own case.
    pub case_id: Option<String>,
    /// Opened with a temporary password: may only change it or sign out.
    pub temporary: bool,
    pub session: Vec<u8>,
}

/// A new session's token, shown once.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub must_change_password: bool,
}

/// Credentials issued to an applicant: the password exists only here and in the e-mail.
#[derive(Debug, Clone)]
pub struct IssuedCredentials {
    pub username: String,
    pub temporary_password: String,
    pub expires_at: DateTime<Utc>,
}

/// A staff account as `staff list` shows it: no secret, no hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StaffAccount {
    pub username: String,
    pub role: String,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Whether a second factor is enrolled (else the account cannot sign in).
    pub second_factor: bool,
}

/// The credential store.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: Database,
    hasher: PasswordHasherPool,
    clock: Arc<dyn Clock>,
    mfa: MfaKey,
}

/// A change to a staff account, made with its sessions ended (a disabled account has
/// none left to end when it is enabled again).
enum StaffChange {
    /// A new sealed second-factor secret.
    Secret(Vec<u8>),
    DisabledAt(DateTime<Utc>),
    Enabled,
}

/// What sign-in and password changes read of an account.
#[derive(Debug, sqlx::FromRow)]
struct AccountRow {
    role: String,
    password_hash: String,
    temporary_expires_at: Option<DateTime<Utc>>,
    mfa_secret: Option<Vec<u8>>,
    mfa_last_step: Option<i64>,
    disabled_at: Option<DateTime<Utc>>,
}

impl Accounts {
    pub fn new(
        db: Database,
        hasher: PasswordHasherPool,
        clock: Arc<dyn Clock>,
        mfa: MfaKey,
    ) -> Self {
        Self {
            db,
            hasher,
            clock,
            mfa,
        }
    }

    /// Creates a staff account (officer, auditor or analyst) with its second factor;
    /// answers the enrolment to show once.
    ///
    /// # Errors
    /// [`AccountError::UsernameTaken`], [`AccountError::Policy`] or storage errors.
    pub async fn create_staff(
        &self,
        username: &str,
        role: ActorRole,
        password: String,
    ) -> Result<Enrolment, AccountError> {
        self.create_staff_named(username, role, password, None)
            .await
    }

    /// Creates a staff account with the name printed for it where a person's name is due
    /// (an officer's electronic signature on the eCoPR); without one, the username is used.
    /// Answers the second factor's enrolment, to show once.
    ///
    /// # Errors
    /// [`AccountError::UsernameTaken`], [`AccountError::Policy`] or storage errors.
    pub async fn create_staff_named(
        &self,
        username: &str,
        role: ActorRole,
        password: String,
        display_name: Option<&PersonName>,
    ) -> Result<Enrolment, AccountError> {
        let mut identity = vec![username];
        identity.extend(display_name.map(PersonName::as_str));
        check_password_policy(&password, &identity)?;
        let hash = self.hasher.hash(password).await?;
        let (enrolment, sealed) = mfa::enrol(&self.mfa, username)?;
        let sql = "INSERT INTO accounts (username, role, password_hash, display_name, \
                   mfa_secret) VALUES ($1, $2, $3, $4, $5)";
        let outcome = on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(username)
            .bind(role.as_str())
            .bind(&hash)
            .bind(display_name.map(PersonName::as_str))
            .bind(&sealed)
            .execute(pool)
            .await
            .map(drop));
        outcome.map_err(|e| unique_to_taken(e, username))?;
        Ok(enrolment)
    }

    /// A new second factor for a staff account (a lost or replaced phone): the old secret
    /// stops working and every session of the account ends. Answers the enrolment, to show
    /// once.
    ///
    /// # Errors
    /// [`AccountError::NoSuchStaff`] or storage errors.
    pub async fn reset_second_factor(&self, username: &str) -> Result<Enrolment, AccountError> {
        let (enrolment, sealed) = mfa::enrol(&self.mfa, username)?;
        self.change_staff(username, StaffChange::Secret(sealed))
            .await?;
        Ok(enrolment)
    }

    /// Disables a staff account: it cannot sign in, and its sessions end at once.
    ///
    /// # Errors
    /// [`AccountError::NoSuchStaff`] or storage errors.
    pub async fn disable_staff(&self, username: &str) -> Result<(), AccountError> {
        let now = self.clock.now();
        self.change_staff(username, StaffChange::DisabledAt(now))
            .await
    }

    /// Enables a disabled staff account again (its old sessions stay ended).
    ///
    /// # Errors
    /// [`AccountError::NoSuchStaff`] or storage errors.
    pub async fn enable_staff(&self, username: &str) -> Result<(), AccountError> {
        self.change_staff(username, StaffChange::Enabled).await
    }

    /// Changes one staff account and ends its sessions, in one transaction.
    async fn change_staff(&self, username: &str, change: StaffChange) -> Result<(), AccountError> {
        let sql = match change {
            StaffChange::Secret(_) => {
                "UPDATE accounts SET mfa_secret = $2, mfa_last_step = NULL \
                 WHERE username = $1 AND role <> 'applicant'"
            }
            StaffChange::DisabledAt(_) => {
                "UPDATE accounts SET disabled_at = COALESCE(disabled_at, $2) \
                 WHERE username = $1 AND role <> 'applicant'"
            }
            StaffChange::Enabled => {
                "UPDATE accounts SET disabled_at = NULL \
                 WHERE username = $1 AND role <> 'applicant'"
            }
        };
        let revoke = "UPDATE sessions SET revoked_at = $2 WHERE username = $1 \
                      AND revoked_at IS NULL";
        let now = self.clock.now();
        let begin = self.db.begin_write();
        let changed = on_db!(&self.db, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let query = sqlx::query(sql).bind(username);
            let query = match &change {
                StaffChange::Secret(sealed) => query.bind(sealed.as_slice()),
                StaffChange::DisabledAt(at) => query.bind(*at),
                StaffChange::Enabled => query,
            };
            let changed = query.execute(&mut *tx).await?.rows_affected();
            sqlx::query(revoke)
                .bind(username)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(changed)
        })?;
        if changed == 0 {
            return Err(AccountError::NoSuchStaff(username.to_owned()));
        }
        Ok(())
    }

    /// Every staff account, by username.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn list_staff(&self) -> Result<Vec<StaffAccount>, AccountError> {
        let sql = "SELECT username, role, display_name, created_at, disabled_at, \
                   mfa_secret IS NOT NULL AS second_factor FROM accounts \
                   WHERE role <> 'applicant' ORDER BY username";
        Ok(on_db!(&self.db, |pool| sqlx::query_as(sql)
            .fetch_all(pool)
            .await)?)
    }

    /// The name to print for `username`: its display name, else the username itself.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn display_name(&self, username: &str) -> Result<String, AccountError> {
        let sql = "SELECT display_name FROM accounts WHERE username = $1";
        let found: Option<Option<String>> = on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?;
        Ok(found.flatten().unwrap_or_else(|| username.to_owned()))
    }

    /// Draws an applicant's credentials (a fresh username and a temporary password valid
    /// for `valid_for`) and hashes the password; stores nothing. Answers the credentials and
    /// the password's hash, for [`insert_applicant`].
    ///
    /// # Errors
    /// [`AccountError::Hashing`].
    pub async fn draw_applicant(
        &self,
        valid_for: Duration,
    ) -> Result<(IssuedCredentials, String), AccountError> {
        let issued = IssuedCredentials {
            username: format!("a-{}", random_from(READABLE, 10)),
            temporary_password: random_from(READABLE, 16),
            expires_at: self.clock.now() + valid_for,
        };
        let hash = self.hasher.hash(issued.temporary_password.clone()).await?;
        Ok((issued, hash))
    }

    /// A new temporary password for an existing username, hashed; stores nothing.
    ///
    /// # Errors
    /// [`AccountError::Hashing`].
    pub async fn draw_password(&self) -> Result<(String, String), AccountError> {
        let password = random_from(READABLE, 16);
        let hash = self.hasher.hash(password.clone()).await?;
        Ok((password, hash))
    }

    /// Creates the applicant's account for `case_id` with a fresh username and a temporary
    /// password valid for `valid_for`.
    ///
    /// # Errors
    /// Storage or hashing errors.
    pub async fn create_applicant(
        &self,
        case_id: &str,
        valid_for: Duration,
    ) -> Result<IssuedCredentials, AccountError> {
        let username = format!("a-{}", random_from(READABLE, 10));
        let temporary_password = random_from(READABLE, 16);
        let expires_at = self.clock.now() + valid_for;
        let hash = self.hasher.hash(temporary_password.clone()).await?;
        let sql = "INSERT INTO accounts (username, role, password_hash, temporary_expires_at, \
                   case_id) VALUES ($1, 'applicant', $2, $3, $4)";
        on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(&username)
            .bind(&hash)
            .bind(expires_at)
            .bind(case_id)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(IssuedCredentials {
            username,
            temporary_password,
            expires_at,
        })
    }

    /// Replaces an applicant's credentials after the temporary password lapsed unused.
    ///
    /// # Errors
    /// Storage or hashing errors.
    pub async fn reissue_applicant(
        &self,
        case_id: &str,
        valid_for: Duration,
    ) -> Result<IssuedCredentials, AccountError> {
        let sql = "DELETE FROM accounts WHERE case_id = $1";
        on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(case_id)
            .execute(pool)
            .await
            .map(drop))?;
        self.create_applicant(case_id, valid_for).await
    }

    /// The username of the applicant of `case_id`, if the account exists.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn applicant_username(&self, case_id: &str) -> Result<Option<String>, AccountError> {
        let sql = "SELECT username FROM accounts WHERE case_id = $1";
        Ok(on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .bind(case_id)
            .fetch_optional(pool)
            .await)?)
    }

    async fn account(&self, username: &str) -> Result<Option<AccountRow>, AccountError> {
        let sql = "SELECT role, password_hash, temporary_expires_at, mfa_secret, \
                   mfa_last_step, disabled_at FROM accounts WHERE username = $1";
        Ok(on_db!(&self.db, |pool| sqlx::query_as(sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?)
    }

    /// Signs in. Unknown user and wrong password answer the same and cost the same (one
    /// Argon2 verification). Each try is taken before the password is checked, against the
    /// account at this address ([`ACCOUNT_ADDRESS_LIMIT`]), the address ([`ADDRESS_LIMIT`])
    /// and, unless the account signed in from this address lately, the account
    /// ([`ACCOUNT_LIMIT`]): past the free tries the next must wait, never for good, however
    /// many arrive at once. Staff also need `otp`, an unused code of their second factor
    /// ([`mfa`]); a wrong or missing one answers as a wrong password does and keeps its
    /// try. A disabled account answers as an unknown one. A right sign-in gives its try
    /// back, clears the account's tries at this address and makes the address known.
    ///
    /// # Errors
    /// [`AccountError::InvalidCredentials`], [`AccountError::TemporaryPasswordExpired`],
    /// [`AccountError::TooManyAttempts`] or storage errors.
    pub async fn sign_in(
        &self,
        username: &str,
        password: String,
        otp: Option<&str>,
        client: IpAddr,
    ) -> Result<NewSession, AccountError> {
        let now = self.clock.now();
        let pair = format!("pair:{username}|{client}");
        let mut subjects = vec![
            Subject::new(pair.clone(), ACCOUNT_ADDRESS_LIMIT),
            Subject::new(format!("addr:{client}"), ADDRESS_LIMIT),
        ];
        if !self.known_address(username, client, now).await? {
            subjects.push(Subject::new(format!("user:{username}"), ACCOUNT_LIMIT));
        }
        let attempt = self.take_try(&subjects, now).await?;
        let account = self
            .account(username)
            .await?
            .filter(|a| a.disabled_at.is_none());
        let hash = account.as_ref().map(|a| a.password_hash.clone());
        if !self.hasher.verify(password, hash).await {
            return Err(AccountError::InvalidCredentials);
        }
        let Some(account) = account else {
            return Err(AccountError::InvalidCredentials);
        };
        if account.role != ActorRole::Applicant.as_str() {
            self.use_second_factor(username, &account, otp, now).await?;
        }
        attempt.give_back(&self.db, &[&pair]).await?;
        self.remember_address(username, client, now).await?;
        let temporary_expires_at = account.temporary_expires_at;
        if temporary_expires_at.is_some_and(|t| now >= t) {
            return Err(AccountError::TemporaryPasswordExpired);
        }
        let temporary = temporary_expires_at.is_some();
        let token = random_token(32);
        let expires_at = now + SESSION_ABSOLUTE;
        let sql = "INSERT INTO sessions (token_hash, username, temporary, created_at, \
                   last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)";
        on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(token_hash(&token))
            .bind(username)
            .bind(temporary)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(NewSession {
            token,
            expires_at,
            must_change_password: temporary,
        })
    }

    /// Checks a staff sign-in's one-time code and uses up its step: of two sign-ins with
    /// the same code at once, one gets through.
    async fn use_second_factor(
        &self,
        username: &str,
        account: &AccountRow,
        otp: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let (Some(sealed), Some(code)) = (&account.mfa_secret, otp) else {
            return Err(AccountError::InvalidCredentials);
        };
        let Some(step) = mfa::accepted_step(
            &self.mfa,
            username,
            sealed,
            code,
            now,
            account.mfa_last_step,
        ) else {
            return Err(AccountError::InvalidCredentials);
        };
        let sql = "UPDATE accounts SET mfa_last_step = $2 WHERE username = $1 \
                   AND (mfa_last_step IS NULL OR mfa_last_step < $2)";
        let used = on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(username)
            .bind(step)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if used == 0 {
            return Err(AccountError::InvalidCredentials);
        }
        Ok(())
    }

    /// Whether `username` signed in from `client` within [`KNOWN_ADDRESS_FOR`].
    async fn known_address(
        &self,
        username: &str,
        client: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<bool, AccountError> {
        let sql = "SELECT count(*) FROM sign_in_known_addresses WHERE username = $1 \
                   AND address = $2 AND last_signed_in_at > $3";
        let found: i64 = on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .bind(username)
            .bind(client.to_string())
            .bind(now - KNOWN_ADDRESS_FOR)
            .fetch_one(pool)
            .await)?;
        Ok(found > 0)
    }

    /// Records that `username` signed in from `client`, and forgets every address not
    /// signed in from within [`KNOWN_ADDRESS_FOR`].
    async fn remember_address(
        &self,
        username: &str,
        client: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let upsert = "INSERT INTO sign_in_known_addresses (username, address, last_signed_in_at) \
                      VALUES ($1, $2, $3) ON CONFLICT (username, address) \
                      DO UPDATE SET last_signed_in_at = excluded.last_signed_in_at";
        let prune = "DELETE FROM sign_in_known_addresses WHERE last_signed_in_at < $1";
        on_db!(&self.db, |pool| {
            sqlx::query(upsert)
                .bind(username)
                .bind(client.to_string())
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(prune)
                .bind(now - KNOWN_ADDRESS_FOR)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// Takes a try against `subjects` (see [`throttle::take`]).
    async fn take_try(
        &self,
        subjects: &[Subject],
        now: DateTime<Utc>,
    ) -> Result<throttle::Try, AccountError> {
        match throttle::take(&self.db, subjects, now).await? {
            Taken::Granted(attempt) => Ok(attempt),
            Taken::Wait(retry_after_secs) => {
                Err(AccountError::TooManyAttempts { retry_after_secs })
            }
        }
    }

    /// The principal behind a bearer token, if the session is live; touches its idle timer
    /// when it was last touched [`SESSION_TOUCH_EVERY`] ago or more.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, AccountError> {
        let now = self.clock.now();
        let hash = token_hash(token);
        let sql = "SELECT s.username, a.role, a.case_id, s.temporary, s.last_seen_at \
                   FROM sessions s \
                   JOIN accounts a ON a.username = s.username \
                   WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND a.disabled_at IS NULL \
                   AND s.expires_at > $2 AND s.last_seen_at > $3 \
                   AND NOT (s.temporary AND a.temporary_expires_at IS NOT NULL \
                            AND a.temporary_expires_at <= $2)";
        /// Username, role, case, temporary, last seen.
        type SessionRow = (String, String, Option<String>, bool, DateTime<Utc>);
        let row: Option<SessionRow> = on_db!(&self.db, |pool| sqlx::query_as(sql)
            .bind(&hash)
            .bind(now)
            .bind(now - SESSION_IDLE)
            .fetch_optional(pool)
            .await)?;
        let Some((username, role, case_id, temporary, last_seen)) = row else {
            return Ok(None);
        };
        if now - last_seen >= SESSION_TOUCH_EVERY {
            let touch = "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1";
            on_db!(&self.db, |pool| sqlx::query(touch)
                .bind(&hash)
                .bind(now)
                .execute(pool)
                .await
                .map(drop))?;
        }
        let role = match role.as_str() {
            "applicant" => ActorRole::Applicant,
            "officer" => ActorRole::Officer,
            "auditor" => ActorRole::Auditor,
            "analyst" => ActorRole::Analyst,
            _ => return Ok(None),
        };
        Ok(Some(Principal {
            username,
            role,
            case_id,
            temporary,
            session: hash,
        }))
    }

    /// Ends one session.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn sign_out(&self, session: &[u8]) -> Result<(), AccountError> {
        let sql = "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1";
        on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(session)
            .bind(self.clock.now())
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Changes the caller's password; every other session of the account is revoked and the
    /// current one is no longer temporary. Answers whether the old password was temporary.
    /// The new password may not contain the username nor anything in `identity` (the
    /// applicant's e-mail address and names: [`crate::CaseService::identity_of`]).
    ///
    /// # Errors
    /// [`AccountError::InvalidCredentials`] for a wrong current password,
    /// [`AccountError::Policy`] for a refused new one, storage errors.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: String,
        new: String,
        identity: &[String],
    ) -> Result<bool, AccountError> {
        let mut words = vec![principal.username.as_str()];
        words.extend(identity.iter().map(String::as_str));
        check_password_policy(&new, &words)?;
        if current == new {
            return Err(PasswordPolicyError::Unchanged.into());
        }
        let subjects = [Subject::new(
            format!("session:{}", hex::encode(&principal.session)),
            CURRENT_PASSWORD_LIMIT,
        )];
        let attempt = self.take_try(&subjects, self.clock.now()).await?;
        let account = self.account(&principal.username).await?;
        let hash = account.as_ref().map(|a| a.password_hash.clone());
        if !self.hasher.verify(current, hash).await {
            return Err(AccountError::InvalidCredentials);
        }
        attempt.give_back(&self.db, &[]).await?;
        // A session opened just before the temporary password lapsed cannot still use it.
        if account
            .as_ref()
            .and_then(|a| a.temporary_expires_at)
            .is_some_and(|t| self.clock.now() >= t)
        {
            return Err(AccountError::TemporaryPasswordExpired);
        }
        let was_temporary = account.is_some_and(|a| a.temporary_expires_at.is_some());
        let new_hash = self.hasher.hash(new).await?;
        let now = self.clock.now();
        let update = "UPDATE accounts SET password_hash = $2, temporary_expires_at = NULL, \
                      password_changed_at = $3 WHERE username = $1";
        let revoke = "UPDATE sessions SET revoked_at = $3 WHERE username = $1 \
                      AND token_hash <> $2 AND revoked_at IS NULL";
        let promote = "UPDATE sessions SET temporary = FALSE WHERE token_hash = $1";
        let begin = self.db.begin_write();
        on_db!(&self.db, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            sqlx::query(update)
                .bind(&principal.username)
                .bind(&new_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(revoke)
                .bind(&principal.username)
                .bind(&principal.session)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(promote)
                .bind(&principal.session)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(was_temporary)
    }

    /// A new invitation code for `case_id` (about 120 random bits); only its hash is kept.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn create_invitation_code(&self, case_id: &str) -> Result<String, AccountError> {
        let code = random_from(READABLE, 24);
        let sql = "INSERT INTO invitation_codes (code_hash, case_id) VALUES ($1, $2)";
        // On SQLite, queued with the appends for the one writer (see `migrations::gate`).
        let _turn = self.db.write_turn().await;
        on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(token_hash(&code))
            .bind(case_id)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(code)
    }

    /// Makes a fresh invitation code for `case_id` and parks it until the case records
    /// `InvitationResent`, whose append swaps it in for the old code (migration
    /// `resent_secrets`); a code parked before for the case and never swapped in is replaced.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn park_resent_invitation_code(&self, case_id: &str) -> Result<String, AccountError> {
        let code = random_from(READABLE, 24);
        let sql = "INSERT INTO invitation_codes_pending (case_id, code_hash) VALUES ($1, $2) \
                   ON CONFLICT (case_id) DO UPDATE SET code_hash = excluded.code_hash";
        on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(case_id)
            .bind(token_hash(&code))
            .execute(pool)
            .await
            .map(drop))?;
        Ok(code)
    }

    /// The case an invitation code opens. Wrong codes from one client address are slowed
    /// down ([`INVITATION_CODE_LIMIT`]); a right one sent while the wait runs waits too.
    ///
    /// # Errors
    /// [`AccountError::TooManyAttempts`], storage errors.
    pub async fn case_for_invitation(
        &self,
        code: &str,
        client: IpAddr,
    ) -> Result<Option<String>, AccountError> {
        let subjects = [Subject::new(
            format!("invitation:{client}"),
            INVITATION_CODE_LIMIT,
        )];
        let attempt = self.take_try(&subjects, self.clock.now()).await?;
        let sql = "SELECT case_id FROM invitation_codes WHERE code_hash = $1";
        let case: Option<String> = on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .bind(token_hash(code))
            .fetch_optional(pool)
            .await)?;
        if case.is_some() {
            attempt.give_back(&self.db, &[]).await?;
        }
        Ok(case)
    }
}

/// Creates the applicant's account of `case_id` inside the caller's transaction (a
/// reactor's, with its checkpoint), from credentials [`Accounts::draw_applicant`] drew.
///
/// # Errors
/// [`AccountError::UsernameTaken`] if the case (or the username) has an account already;
/// storage errors.
pub async fn insert_applicant(
    conn: &mut Conn<'_>,
    case_id: &str,
    username: &str,
    password_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), AccountError> {
    let sql = "INSERT INTO accounts (username, role, password_hash, temporary_expires_at, \
               case_id) VALUES ($1, 'applicant', $2, $3, $4)";
    let outcome = on_conn!(conn, |c| sqlx::query(sql)
        .bind(username)
        .bind(password_hash)
        .bind(expires_at)
        .bind(case_id)
        .execute(&mut **c)
        .await
        .map(drop));
    outcome.map_err(|e| unique_to_taken(e, username))
}

/// The username of the applicant account of `case_id`, read inside the caller's transaction.
///
/// # Errors
/// Storage errors.
pub async fn applicant_of(
    conn: &mut Conn<'_>,
    case_id: &str,
) -> Result<Option<String>, AccountError> {
    let sql = "SELECT username FROM accounts WHERE case_id = $1";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(case_id)
        .fetch_optional(&mut **c)
        .await)?)
}

fn unique_to_taken(e: sqlx::Error, username: &str) -> AccountError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            AccountError::UsernameTaken(username.to_owned())
        }
        _ => AccountError::Storage(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
        let code = random_from(READABLE, 24);
        assert!(code.bytes().all(|b| READABLE.contains(&b)));
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password_and_never_the_decoy() {
        let pool = PasswordHasherPool::new().unwrap_or_else(|e| panic!("{e}"));
        let hash = pool
            .hash("correct horse battery".into())
            .await
            .unwrap_or_default();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            pool.verify("correct horse battery".into(), Some(hash.clone()))
                .await
        );
        assert!(!pool.verify("wrong horse battery".into(), Some(hash)).await);
        assert!(!pool.verify("anything at all".into(), None).await);
    }
}
