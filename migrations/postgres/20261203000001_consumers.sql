-- The consumer runtime (projections/src/runtime): every reaction to the log runs as a
-- subscriber of one runtime.
--
-- Items a reactor could not handle, parked with their error while the items behind them go
-- on. A feed reactor's item is one event (`<case>#<sequence>`); later events of a case with a
-- parked item are parked behind it, so each case's events are still handled in order. Times
-- are milliseconds since the epoch, as in the projections' tables.
CREATE TABLE consumer_parked
(
    consumer        text    NOT NULL,
    item            text    NOT NULL,
    case_id         text    NOT NULL,
    sequence        bigint  NOT NULL,
    -- Failed attempts so far (0: waiting behind an earlier item of the same case).
    attempts        integer NOT NULL,
    -- Refused for good: not tried again until an operator says so (`consumers retry`).
    refused         boolean NOT NULL,
    error           text    NOT NULL,
    first_failed_at bigint  NOT NULL,
    last_failed_at  bigint  NOT NULL,
    next_attempt_at bigint  NOT NULL,
    PRIMARY KEY (consumer, item)
);
CREATE INDEX consumer_parked_by_case ON consumer_parked (consumer, case_id, sequence);

-- A reactor that keeps failing says so in its checkpoint, as a projection does in its own.
ALTER TABLE reactor_checkpoints
    ADD COLUMN stalled_since bigint,
    ADD COLUMN stalled_error text;

-- The shape of a projection's tables as its code writes them: a release that changes it
-- bumps the number, and the runtime builds the projection again from the first event.
ALTER TABLE projections
    ADD COLUMN shape bigint NOT NULL DEFAULT 1;

-- Accounts are now created by a reactor on the acceptance. Acceptances already in the log
-- had theirs made in the request, so the reactor starts after them.
INSERT INTO reactor_checkpoints (name, tx, position)
SELECT 'accounts', tx::text::bigint, position
FROM events
ORDER BY tx DESC, position DESC
LIMIT 1
ON CONFLICT (name) DO NOTHING;

GRANT SELECT, INSERT, UPDATE, DELETE ON consumer_parked TO prconfirm_app;
