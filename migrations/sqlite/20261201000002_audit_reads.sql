-- Every read an auditor makes through the API: who (actor id and role), which route, which
-- case or which query, when, under which request (correlation id). Written before the answer
-- is sent; a read that cannot be recorded is refused (docs/audit.md, "Auditor reads"). Kept
-- apart from the event log: reading a case is not something that happened to the case, and
-- its stream, version and hash chain stay as they were. One writer at a time: position order
-- is commit order.
CREATE TABLE audit_reads
(
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    read_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    actor_id       TEXT    NOT NULL,
    actor_role     TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    method         TEXT    NOT NULL,
    -- The route template, e.g. /v1/audit/cases/{id}/events.
    route          TEXT    NOT NULL,
    -- The case read, for the routes about one case.
    case_id        TEXT,
    -- The query string as sent (cursor, limit, actor, dates, as_of, version).
    query          TEXT
) STRICT;

-- Append-only, like the log and the checkpoints.
CREATE TRIGGER audit_reads_no_update
    BEFORE UPDATE ON audit_reads
BEGIN
    SELECT RAISE(ABORT, 'audit reads are append-only: UPDATE refused');
END;

CREATE TRIGGER audit_reads_no_delete
    BEFORE DELETE ON audit_reads
BEGIN
    SELECT RAISE(ABORT, 'audit reads are append-only: DELETE refused');
END;
