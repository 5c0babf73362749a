-- The consumer runtime; see the PostgreSQL migration of the same name.
CREATE TABLE consumer_parked
(
    consumer        TEXT    NOT NULL,
    item            TEXT    NOT NULL,
    case_id         TEXT    NOT NULL,
    sequence        INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    refused         INTEGER NOT NULL,
    error           TEXT    NOT NULL,
    first_failed_at INTEGER NOT NULL,
    last_failed_at  INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, item)
) STRICT;
CREATE INDEX consumer_parked_by_case ON consumer_parked (consumer, case_id, sequence);

ALTER TABLE reactor_checkpoints ADD COLUMN stalled_since INTEGER;
ALTER TABLE reactor_checkpoints ADD COLUMN stalled_error TEXT;

ALTER TABLE projections ADD COLUMN shape INTEGER NOT NULL DEFAULT 1;

INSERT INTO reactor_checkpoints (name, tx, position)
SELECT 'accounts', 0, position
FROM events
ORDER BY position DESC
LIMIT 1
ON CONFLICT (name) DO NOTHING;
