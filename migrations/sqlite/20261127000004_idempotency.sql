-- Idempotency keys claimed by the appending transaction; see the PostgreSQL migration.
CREATE TABLE idempotency_keys
(
    actor_id     TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    causation_id TEXT NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (actor_id, key)
) STRICT;

CREATE TRIGGER events_idempotency
    BEFORE INSERT ON events
    WHEN json_extract(NEW.metadata, '$.idempotency_key') IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO idempotency_keys (actor_id, key, request_hash, aggregate_id, causation_id)
    VALUES (json_extract(NEW.metadata, '$.actor_id'), json_extract(NEW.metadata, '$.idempotency_key'),
            coalesce(json_extract(NEW.metadata, '$.request_hash'), ''), NEW.aggregate_id,
            json_extract(NEW.metadata, '$.causation_id'));
    SELECT RAISE(ABORT, 'idempotency key already used')
     WHERE (SELECT causation_id FROM idempotency_keys
             WHERE actor_id = json_extract(NEW.metadata, '$.actor_id')
               AND key = json_extract(NEW.metadata, '$.idempotency_key'))
           IS NOT json_extract(NEW.metadata, '$.causation_id');
END;
