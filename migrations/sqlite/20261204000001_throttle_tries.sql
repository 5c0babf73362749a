-- Guessing throttles (commands/src/accounts/throttle.rs): one row per try taken against a
-- subject, recorded before the guess is evaluated, in the same write transaction as the
-- check. Replaces `sign_in_failures` (at most 15 minutes of history, not carried over).
DROP TABLE sign_in_failures;

CREATE TABLE throttle_tries
(
    subject  TEXT NOT NULL,
    tried_at TEXT NOT NULL,
    try_id   TEXT NOT NULL
) STRICT;
CREATE INDEX throttle_tries_by_subject ON throttle_tries (subject, tried_at);
CREATE INDEX throttle_tries_by_try ON throttle_tries (try_id);
CREATE INDEX throttle_tries_by_time ON throttle_tries (tried_at);
