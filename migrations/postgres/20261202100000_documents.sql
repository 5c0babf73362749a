-- eCoPR documents, made by the eCoPR reactor from EcoprIssued / EcoprAmended events: one row
-- per document number, inserted in the same transaction as the reactor's checkpoint, so a
-- re-run after a crash finds the row and makes no second document. The PDF itself is in the
-- blob store (content-addressed, by pdf_sha256); the verification code printed on it is kept
-- only as its SHA-256.
CREATE TABLE documents
(
    document_number     text        PRIMARY KEY,
    case_id             text        NOT NULL,
    -- The case's event that issued the document: at most one document per event.
    sequence            bigint      NOT NULL,
    -- The document this one corrects (an amendment), if any.
    replaces            text,
    issued_on           date        NOT NULL,
    pdf_sha256          text        NOT NULL CHECK (pdf_sha256 ~ '^[0-9a-f]{64}$'),
    verification_sha256 text        NOT NULL CHECK (verification_sha256 ~ '^[0-9a-f]{64}$'),
    -- Set when an amendment replaced it.
    superseded_by       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, sequence)
);
CREATE INDEX documents_by_case ON documents (case_id);

-- Wrong verification codes, per document number and per client address, to slow guessing
-- across every instance.
CREATE TABLE verification_failures
(
    subject   text        NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX verification_failures_by_subject ON verification_failures (subject, failed_at);

-- The officer's name as printed on the eCoPR (the electronic signature); staff accounts
-- without one sign with their username.
ALTER TABLE accounts ADD COLUMN display_name text
    CHECK (display_name IS NULL OR length(display_name) BETWEEN 1 AND 100);

GRANT SELECT, INSERT, UPDATE ON documents TO prconfirm_app;
GRANT SELECT, INSERT, DELETE ON verification_failures TO prconfirm_app;
