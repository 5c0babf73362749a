-- Guessing throttles (commands/src/accounts/throttle.rs): one row per try taken against a
-- subject (an account, a client address, a session), recorded *before* the guess is
-- evaluated, in the same transaction as the check, so that tries arriving at once cannot all
-- pass it. A right guess deletes its rows (`try_id`). Replaces `sign_in_failures`, which
-- recorded failures only after the slow password check; its rows are at most 15 minutes of
-- history and are not carried over.
DROP TABLE sign_in_failures;

CREATE TABLE throttle_tries
(
    subject  text        NOT NULL,
    tried_at timestamptz NOT NULL,
    try_id   text        NOT NULL
);
CREATE INDEX throttle_tries_by_subject ON throttle_tries (subject, tried_at);
CREATE INDEX throttle_tries_by_try ON throttle_tries (try_id);
CREATE INDEX throttle_tries_by_time ON throttle_tries (tried_at);

GRANT SELECT, INSERT, DELETE ON throttle_tries TO prconfirm_app;
