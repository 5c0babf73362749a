-- Read models. A projection owns a registry row, one checkpoint per generation and tables
-- whose names end in its generation (`case_status_g1`, ...). Readers go through a view named
-- without the suffix (`case_status`), which a rebuild repoints in one transaction once the new
-- generation has caught up. The generation tables are created by the runner (their DDL lives
-- with the projection's code in projections/src), not here.
CREATE TABLE projections
(
    name            text   PRIMARY KEY,
    live_generation bigint NOT NULL CHECK (live_generation >= 1)
);

CREATE TABLE projection_checkpoints
(
    name            text        NOT NULL,
    generation      bigint      NOT NULL,
    tx              bigint      NOT NULL DEFAULT 0,
    position        bigint      NOT NULL DEFAULT 0,
    -- Events applied by this generation: equals the feed's length once caught up, whatever
    -- crashed or how many instances ran (an event applied twice would show here).
    events_applied  bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Set when an event keeps failing: the projection stops there and says why.
    stalled_at      text,
    stalled_error   text,
    PRIMARY KEY (name, generation)
);

-- Wake projection runners in every instance when events commit (NOTIFY is delivered at
-- commit, once per transaction and channel).
CREATE FUNCTION events_notify() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('prconfirm_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- Analysts read the stats_* views and nothing else (docs/architecture.md, "Read models").
DO
$$
BEGIN
    CREATE ROLE prconfirm_analyst NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON projections, projection_checkpoints TO prconfirm_app;
