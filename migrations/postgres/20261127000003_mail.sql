-- The e-mail outbox. A reactor turns feed events into outbox rows (exactly once: the rows
-- and its checkpoint move in one transaction); a sender delivers them and then purges any
-- secret from the body. Secrets wait in mail_secrets only until their message is composed.
CREATE TABLE mail_secrets
(
    case_id    text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('invitation', 'credentials')),
    recipient  text        NOT NULL,
    language   text        NOT NULL,
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, kind)
);

CREATE TABLE mail_outbox
(
    id         text        PRIMARY KEY,
    recipient  text        NOT NULL,
    subject    text        NOT NULL,
    body       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX mail_outbox_pending ON mail_outbox (created_at) WHERE sent_at IS NULL;

CREATE TABLE reactor_checkpoints
(
    name     text   PRIMARY KEY,
    tx       bigint NOT NULL,
    position bigint NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON mail_secrets, mail_outbox, reactor_checkpoints
    TO prconfirm_app;
