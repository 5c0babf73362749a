-- The event log: the table sqlite-es reads and writes, plus position and recorded_at.
-- position is the rowid (AUTOINCREMENT: never reused, even after the tail is deleted).
-- SQLite has one writer at a time, so position order is commit order and the feed can read
-- by position alone.
CREATE TABLE events
(
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence >= 1),
    event_type     TEXT    NOT NULL,
    event_version  TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

-- Snapshots, as sqlite-es expects them (a cache, updated in place).
CREATE TABLE snapshots
(
    aggregate_type   TEXT    NOT NULL,
    aggregate_id     TEXT    NOT NULL,
    last_sequence    INTEGER NOT NULL CHECK (last_sequence >= 0),
    current_snapshot INTEGER NOT NULL CHECK (current_snapshot >= 0),
    payload          TEXT    NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
) STRICT;
CREATE UNIQUE INDEX snapshots_one_per_aggregate ON snapshots (aggregate_type, aggregate_id);

-- The log is append-only: corrections are new events.
CREATE TRIGGER events_no_update
    BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused');
END;

CREATE TRIGGER events_no_delete
    BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused');
END;

-- Serial numbers of eCoPR documents.
CREATE TABLE ecopr_document_serial
(
    serial INTEGER PRIMARY KEY AUTOINCREMENT
) STRICT;
