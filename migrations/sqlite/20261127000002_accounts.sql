-- Portal and staff accounts, sessions and invitation codes. Secrets are stored only as
-- hashes (Argon2id for passwords, SHA-256 for random tokens and codes) and never enter the
-- event log. Times are RFC 3339 UTC text.
CREATE TABLE accounts
(
    username             TEXT PRIMARY KEY,
    role                 TEXT NOT NULL CHECK (role IN ('applicant', 'officer', 'auditor', 'analyst')),
    password_hash        TEXT NOT NULL,
    temporary_expires_at TEXT,
    case_id              TEXT UNIQUE,
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    password_changed_at  TEXT,
    CHECK ((role = 'applicant') = (case_id IS NOT NULL))
) STRICT;

CREATE TABLE sessions
(
    token_hash   BLOB    PRIMARY KEY,
    username     TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    temporary    INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    revoked_at   TEXT
) STRICT;
CREATE INDEX sessions_by_user ON sessions (username) WHERE revoked_at IS NULL;

CREATE TABLE sign_in_failures
(
    subject   TEXT NOT NULL,
    failed_at TEXT NOT NULL
) STRICT;
CREATE INDEX sign_in_failures_by_subject ON sign_in_failures (subject, failed_at);

CREATE TABLE invitation_codes
(
    code_hash  BLOB PRIMARY KEY,
    case_id    TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
