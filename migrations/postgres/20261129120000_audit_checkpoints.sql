-- Signed checkpoints over the global feed (docs/audit.md). A row says: the first `count`
-- events of the feed, in (tx, position) order up to the cursor (cursor_tx, cursor_position),
-- fold to `root`; `signature` is the Ed25519 signature of that statement by the key whose
-- public half is `public_key`. The signing key itself never enters the database.
CREATE TABLE audit_checkpoints
(
    count           bigint      NOT NULL PRIMARY KEY CHECK (count >= 1),
    cursor_tx       bigint      NOT NULL CHECK (cursor_tx >= 0),
    cursor_position bigint      NOT NULL CHECK (cursor_position >= 1),
    root            text        NOT NULL CHECK (root ~ '^[0-9a-f]{64}$'),
    -- RFC 3339, exactly as signed.
    signed_at       text        NOT NULL,
    public_key      text        NOT NULL CHECK (public_key ~ '^[0-9a-f]{64}$'),
    signature       text        NOT NULL CHECK (signature ~ '^[0-9a-f]{128}$'),
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (cursor_tx, cursor_position)
);

-- Checkpoints are append-only, like the log they vouch for.
CREATE FUNCTION audit_checkpoints_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_refuse_change();

CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_refuse_change();

GRANT SELECT, INSERT ON audit_checkpoints TO prconfirm_app;
