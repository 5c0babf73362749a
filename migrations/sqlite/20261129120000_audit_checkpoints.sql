-- Signed checkpoints over the global feed (docs/audit.md). A row says: the first `count`
-- events of the feed, in position order up to cursor_position (cursor_tx is always 0 here),
-- fold to `root`; `signature` is the Ed25519 signature of that statement by the key whose
-- public half is `public_key`. The signing key itself never enters the database.
CREATE TABLE audit_checkpoints
(
    count           INTEGER NOT NULL PRIMARY KEY CHECK (count >= 1),
    cursor_tx       INTEGER NOT NULL CHECK (cursor_tx >= 0),
    cursor_position INTEGER NOT NULL CHECK (cursor_position >= 1),
    root            TEXT    NOT NULL CHECK (length(root) = 64),
    -- RFC 3339, exactly as signed.
    signed_at       TEXT    NOT NULL,
    public_key      TEXT    NOT NULL CHECK (length(public_key) = 64),
    signature       TEXT    NOT NULL CHECK (length(signature) = 128),
    recorded_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (cursor_tx, cursor_position)
) STRICT;

-- Checkpoints are append-only, like the log they vouch for.
CREATE TRIGGER audit_checkpoints_no_update
    BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only: UPDATE refused');
END;

CREATE TRIGGER audit_checkpoints_no_delete
    BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only: DELETE refused');
END;
