//! Accounts, passwords, sessions and invitation codes: the credentials side of the portal.
//!
//! Secrets never enter the event log. Passwords are Argon2id hashes; session tokens and
//! invitation codes are random and stored only as SHA-256. Hashing runs on blocking threads
//! behind a semaphore as wide as the machine, so a flood of sign-ins queues instead of
//! starving the server.

use std::net::IpAddr;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use prconfirm_domain::values::PersonName;
use prconfirm_migrations::{on_conn, on_db, Conn, Database};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::metadata::ActorRole;

/// Shortest password accepted, in characters.
pub const PASSWORD_MIN_CHARS: usize = 12;
/// Longest password accepted, in bytes (no truncation below that).
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// A session ends after this long without a request.
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// How stale the idle timer may get before a request writes it again. A read then costs no
/// write (and no WAL flush) at all; a session may end up to this much before 30 idle minutes,
/// never after.
pub const SESSION_TOUCH_EVERY: Duration = Duration::seconds(30);
/// A session ends this long after sign-in, whatever happens.
pub const SESSION_ABSOLUTE: Duration = Duration::hours(12);
/// Failures counted for slowing down are those of the last this long.
const FAILURE_WINDOW: Duration = Duration::minutes(15);
/// Failures allowed in the window before each further try must wait.
const FREE_FAILURES: usize = 5;

/// A refused password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("password must be at least {PASSWORD_MIN_CHARS} characters")]
    TooShort,
    #[error("password must be at most {PASSWORD_MAX_BYTES} bytes")]
    TooLong,
    #[error("the new password must differ from the current one")]
    Unchanged,
}

/// Checks a new password against the policy: 12 characters to 1 KiB, any characters.
///
/// # Errors
/// [`PasswordPolicyError`] naming the rule.
pub fn check_password_policy(password: &str) -> Result<(), PasswordPolicyError> {
    if password.len() > PASSWORD_MAX_BYTES {
        Err(PasswordPolicyError::TooLong)
    } else if password.chars().count() < PASSWORD_MIN_CHARS {
        Err(PasswordPolicyError::TooShort)
    } else {
        Ok(())
    }
}

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

/// `bytes` random bytes from the operating system, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// `len` characters drawn uniformly from `alphabet` by a CSPRNG.
fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[OsRng.gen_range(0..alphabet.len())]))
        .collect()
}

/// Lowercase letters and digits without the look-alikes (0/o, 1/l/i).
const READABLE: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

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

/// The credential store.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: Database,
    hasher: PasswordHasherPool,
    clock: Arc<dyn Clock>,
}

type AccountRow = (String, String, Option<DateTime<Utc>>, Option<String>);

impl Accounts {
    pub fn new(db: Database, hasher: PasswordHasherPool, clock: Arc<dyn Clock>) -> Self {
        Self { db, hasher, clock }
    }

    /// Creates a staff account (officer, auditor or analyst).
    ///
    /// # Errors
    /// [`AccountError::UsernameTaken`], [`AccountError::Policy`] or storage errors.
    pub async fn create_staff(
        &self,
        username: &str,
        role: ActorRole,
        password: String,
    ) -> Result<(), AccountError> {
        self.create_staff_named(username, role, password, None)
            .await
    }

    /// Creates a staff account with the name printed for it where a person's name is due
    /// (an officer's electronic signature on the eCoPR); without one, the username is used.
    ///
    /// # Errors
    /// [`AccountError::UsernameTaken`], [`AccountError::Policy`] or storage errors.
    pub async fn create_staff_named(
        &self,
        username: &str,
        role: ActorRole,
        password: String,
        display_name: Option<&PersonName>,
    ) -> Result<(), AccountError> {
        check_password_policy(&password)?;
        let hash = self.hasher.hash(password).await?;
        let sql = "INSERT INTO accounts (username, role, password_hash, display_name) \
                   VALUES ($1, $2, $3, $4)";
        let outcome = on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(username)
            .bind(role.as_str())
            .bind(&hash)
            .bind(display_name.map(PersonName::as_str))
            .execute(pool)
            .await
            .map(drop));
        outcome.map_err(|e| unique_to_taken(e, username))
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
        let sql = "SELECT role, password_hash, temporary_expires_at, case_id FROM accounts \
                   WHERE username = $1";
        Ok(on_db!(&self.db, |pool| sqlx::query_as(sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?)
    }

    /// Signs in. Unknown user and wrong password answer the same and cost the same (one
    /// Argon2 verification). Repeated failures for the account or from the client address
    /// make the next try wait, doubling from 1 s up to the 15-minute window, never for good.
    ///
    /// # Errors
    /// [`AccountError::InvalidCredentials`], [`AccountError::TemporaryPasswordExpired`],
    /// [`AccountError::TooManyAttempts`] or storage errors.
    pub async fn sign_in(
        &self,
        username: &str,
        password: String,
        client: IpAddr,
    ) -> Result<NewSession, AccountError> {
        let now = self.clock.now();
        let subjects = [format!("user:{username}"), format!("addr:{client}")];
        for subject in &subjects {
            if let Some(wait) = self.wait_before_next_try(subject, now).await? {
                return Err(AccountError::TooManyAttempts {
                    retry_after_secs: wait,
                });
            }
        }
        let account = self.account(username).await?;
        let hash = account.as_ref().map(|a| a.1.clone());
        if !self.hasher.verify(password, hash).await {
            for subject in &subjects {
                self.record_failure(subject, now).await?;
            }
            return Err(AccountError::InvalidCredentials);
        }
        let Some((_, _, temporary_expires_at, _)) = account else {
            return Err(AccountError::InvalidCredentials);
        };
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

    async fn wait_before_next_try(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, AccountError> {
        let sql = "SELECT failed_at FROM sign_in_failures WHERE subject = $1 AND failed_at > $2 \
                   ORDER BY failed_at DESC LIMIT 64";
        let recent: Vec<DateTime<Utc>> = on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .bind(subject)
            .bind(now - FAILURE_WINDOW)
            .fetch_all(pool)
            .await)?;
        let Some(&last) = recent.first() else {
            return Ok(None);
        };
        if recent.len() < FREE_FAILURES {
            return Ok(None);
        }
        let exponent = u32::try_from(recent.len() - FREE_FAILURES)
            .unwrap_or(u32::MAX)
            .min(10);
        let backoff = Duration::seconds(1i64 << exponent).min(FAILURE_WINDOW);
        let until = last + backoff;
        Ok((until > now).then(|| (until - now).num_seconds().max(1).unsigned_abs()))
    }

    async fn record_failure(&self, subject: &str, now: DateTime<Utc>) -> Result<(), AccountError> {
        let prune = "DELETE FROM sign_in_failures WHERE subject = $1 AND failed_at < $2";
        let insert = "INSERT INTO sign_in_failures (subject, failed_at) VALUES ($1, $2)";
        on_db!(&self.db, |pool| {
            sqlx::query(prune)
                .bind(subject)
                .bind(now - FAILURE_WINDOW)
                .execute(pool)
                .await?;
            sqlx::query(insert)
                .bind(subject)
                .bind(now)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
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
                   WHERE s.token_hash = $1 AND s.revoked_at IS NULL \
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
    ///
    /// # Errors
    /// [`AccountError::InvalidCredentials`] for a wrong current password,
    /// [`AccountError::Policy`] for a refused new one, storage errors.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: String,
        new: String,
    ) -> Result<bool, AccountError> {
        check_password_policy(&new)?;
        if current == new {
            return Err(PasswordPolicyError::Unchanged.into());
        }
        let account = self.account(&principal.username).await?;
        let hash = account.as_ref().map(|a| a.1.clone());
        if !self.hasher.verify(current, hash).await {
            return Err(AccountError::InvalidCredentials);
        }
        // A session opened just before the temporary password lapsed cannot still use it.
        if account
            .as_ref()
            .and_then(|a| a.2)
            .is_some_and(|t| self.clock.now() >= t)
        {
            return Err(AccountError::TemporaryPasswordExpired);
        }
        let was_temporary = account.is_some_and(|a| a.2.is_some());
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
        on_db!(&self.db, |pool| sqlx::query(sql)
            .bind(token_hash(&code))
            .bind(case_id)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(code)
    }

    /// The case an invitation code opens.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn case_for_invitation(&self, code: &str) -> Result<Option<String>, AccountError> {
        let sql = "SELECT case_id FROM invitation_codes WHERE code_hash = $1";
        Ok(on_db!(&self.db, |pool| sqlx::query_scalar(sql)
            .bind(token_hash(code))
            .fetch_optional(pool)
            .await)?)
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
    fn the_password_policy_counts_characters_and_caps_bytes() {
        assert_eq!(
            check_password_policy("short"),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(
            check_password_policy("ééééééééééé"),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(check_password_policy("éééééééééééé"), Ok(()));
        assert_eq!(check_password_policy(&"x".repeat(1024)), Ok(()));
        assert_eq!(
            check_password_policy(&"x".repeat(1025)),
            Err(PasswordPolicyError::TooLong)
        );
    }

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
