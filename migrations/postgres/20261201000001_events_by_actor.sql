-- Auditors ask "everything officer X did between two dates" (GET /v1/audit/events?actor=X
-- &from=&to=). Both values are in the event's metadata, which the hash chain covers: the
-- actor id and occurred_at (RFC 3339, UTC, microseconds, always the same width, so text
-- order is time order). The query names exactly these expressions so that this index serves it.
CREATE INDEX events_by_actor ON events ((metadata ->> 'actor_id'), (metadata ->> 'occurred_at'));
