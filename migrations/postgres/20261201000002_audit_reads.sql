-- Every read an auditor makes through the API: who (actor id and role), which route, which
-- case or which query, when, under which request (correlation id). Written before the answer
-- is sent; a read that cannot be recorded is refused (docs/audit.md, "Auditor reads"). Kept
-- apart from the event log: reading a case is not something that happened to the case, and
-- its stream, version and hash chain stay as they were.
CREATE TABLE audit_reads
(
    position       bigint      NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The recording transaction: GET /v1/audit/reads pages by (tx, position) below the
    -- snapshot's xmin, as the event feed does, so no record committed late is ever skipped.
    tx             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    read_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id       text        NOT NULL,
    actor_role     text        NOT NULL,
    correlation_id text        NOT NULL,
    method         text        NOT NULL,
    -- The route template, e.g. /v1/audit/cases/{id}/events.
    route          text        NOT NULL,
    -- The case read, for the routes about one case.
    case_id        text,
    -- The query string as sent (cursor, limit, actor, dates, as_of, version).
    query          text
);

CREATE INDEX audit_reads_feed ON audit_reads (tx, position);

-- Append-only, like the log and the checkpoints.
CREATE FUNCTION audit_reads_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'audit reads are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_reads_append_only
    BEFORE UPDATE OR DELETE ON audit_reads
    FOR EACH ROW EXECUTE FUNCTION audit_reads_refuse_change();

CREATE TRIGGER audit_reads_no_truncate
    BEFORE TRUNCATE ON audit_reads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reads_refuse_change();

GRANT SELECT, INSERT ON audit_reads TO prconfirm_app;
