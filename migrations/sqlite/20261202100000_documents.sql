-- eCoPR documents, wrong verification codes and staff display names; see the PostgreSQL
-- migration of the same name.
CREATE TABLE documents
(
    document_number     TEXT    PRIMARY KEY,
    case_id             TEXT    NOT NULL,
    sequence            INTEGER NOT NULL,
    replaces            TEXT,
    issued_on           TEXT    NOT NULL,
    pdf_sha256          TEXT    NOT NULL CHECK (length(pdf_sha256) = 64),
    verification_sha256 TEXT    NOT NULL CHECK (length(verification_sha256) = 64),
    superseded_by       TEXT,
    created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (case_id, sequence)
) STRICT;
CREATE INDEX documents_by_case ON documents (case_id);

CREATE TABLE verification_failures
(
    subject   TEXT NOT NULL,
    failed_at TEXT NOT NULL
) STRICT;
CREATE INDEX verification_failures_by_subject ON verification_failures (subject, failed_at);

ALTER TABLE accounts ADD COLUMN display_name TEXT
    CHECK (display_name IS NULL OR length(display_name) BETWEEN 1 AND 100);
