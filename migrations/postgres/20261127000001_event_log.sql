-- The event log: the table postgres-es reads and writes, plus the columns the gap-safe feed
-- and the audit need. postgres-es's INSERT names none of position, tx, recorded_at: they are
-- filled by their defaults inside the appending transaction.
CREATE TABLE events
(
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence >= 1),
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    -- Global order of appends. Not commit order: see tx.
    position       bigint      NOT NULL GENERATED ALWAYS AS IDENTITY,
    -- The appending transaction. A reader takes only rows whose tx is below the xmin of its
    -- snapshot, so no transaction still in flight can later commit behind its cursor.
    tx             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence),
    UNIQUE (position)
);

-- The feed reads in (tx, position) order, resuming after the last pair it saw.
CREATE INDEX events_feed ON events (tx, position);

-- Snapshots, as postgres-es expects them (it updates them in place; they are a cache).
CREATE TABLE snapshots
(
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);
CREATE UNIQUE INDEX snapshots_one_per_aggregate ON snapshots (aggregate_type, aggregate_id);

-- The log is append-only: corrections are new events. The application's role is granted no
-- UPDATE, DELETE or TRUNCATE, and this trigger refuses them for everyone else too.
CREATE FUNCTION events_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Serial numbers of eCoPR documents.
CREATE SEQUENCE ecopr_document_serial START 1;

-- The role the service runs as in production (see docs/architecture.md): it may append and
-- read events, never change them. Roles are cluster-wide, so creating it twice is not an error.
DO
$$
BEGIN
    CREATE ROLE prconfirm_app NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
GRANT SELECT, INSERT ON events TO prconfirm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON snapshots TO prconfirm_app;
GRANT USAGE ON SEQUENCE ecopr_document_serial TO prconfirm_app;
