-- The e-mail outbox; see the PostgreSQL migration of the same name.
CREATE TABLE mail_secrets
(
    case_id    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('invitation', 'credentials')),
    recipient  TEXT NOT NULL,
    language   TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (case_id, kind)
) STRICT;

CREATE TABLE mail_outbox
(
    id         TEXT PRIMARY KEY,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    sent_at    TEXT
) STRICT;
CREATE INDEX mail_outbox_pending ON mail_outbox (created_at) WHERE sent_at IS NULL;

CREATE TABLE reactor_checkpoints
(
    name     TEXT    PRIMARY KEY,
    tx       INTEGER NOT NULL,
    position INTEGER NOT NULL
) STRICT;
