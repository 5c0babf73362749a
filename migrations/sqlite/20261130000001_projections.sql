-- Read models: see the PostgreSQL migration of the same name. SQLite has one writer at a time
-- and no NOTIFY: runners are woken in process.
CREATE TABLE projections
(
    name            TEXT    PRIMARY KEY,
    live_generation INTEGER NOT NULL CHECK (live_generation >= 1)
) STRICT;

CREATE TABLE projection_checkpoints
(
    name           TEXT    NOT NULL,
    generation     INTEGER NOT NULL,
    tx             INTEGER NOT NULL DEFAULT 0,
    position       INTEGER NOT NULL DEFAULT 0,
    events_applied INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    stalled_at     TEXT,
    stalled_error  TEXT,
    PRIMARY KEY (name, generation)
) STRICT;
