-- Portal and staff accounts, sessions and invitation codes. Secrets are stored only as
-- hashes (Argon2id for passwords, SHA-256 for random tokens and codes) and never enter the
-- event log.
CREATE TABLE accounts
(
    username             text        PRIMARY KEY,
    role                 text        NOT NULL CHECK (role IN ('applicant', 'officer', 'auditor', 'analyst')),
    password_hash        text        NOT NULL,
    -- Set while the password is the temporary one the department sent.
    temporary_expires_at timestamptz,
    -- The applicant's own case; staff have none.
    case_id              text UNIQUE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    password_changed_at  timestamptz,
    CHECK ((role = 'applicant') = (case_id IS NOT NULL))
);

CREATE TABLE sessions
(
    token_hash   bytea       PRIMARY KEY,
    username     text        NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    temporary    boolean     NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX sessions_by_user ON sessions (username) WHERE revoked_at IS NULL;

-- Failed sign-ins, for slowing down guessing per account and per client address.
CREATE TABLE sign_in_failures
(
    subject   text        NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_by_subject ON sign_in_failures (subject, failed_at);

CREATE TABLE invitation_codes
(
    code_hash  bytea       PRIMARY KEY,
    case_id    text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, sessions, sign_in_failures, invitation_codes
    TO prconfirm_app;
