-- Auditors ask "everything officer X did between two dates" (GET /v1/audit/events?actor=X
-- &from=&to=). Both values are in the event's metadata, which the hash chain covers: the
-- actor id and occurred_at (RFC 3339, UTC, microseconds, always the same width, so text
-- order is time order). SQLite uses an expression index only for a query that repeats the
-- expression exactly: the query writes json_extract(metadata, '$.actor_id') as here.
CREATE INDEX events_by_actor ON events (json_extract(metadata, '$.actor_id'),
                                        json_extract(metadata, '$.occurred_at'));
