-- Who each case's notices go to (the e-mail and language of its invitation), kept by the mail
-- reactor from `Invited` events so that later notices (reminder, expiry, photo returned, card
-- mailed) need not read the event log. Filled here for cases invited before this table.
CREATE TABLE mail_recipients
(
    case_id     TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    language    TEXT NOT NULL,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    -- The invitation's answer date (RFC 3339), for the reminder.
    respond_by  TEXT NOT NULL
);

INSERT OR IGNORE INTO mail_recipients (case_id, email, language, given_name, family_name, respond_by)
SELECT aggregate_id,
       json_extract(payload, '$.Invited.file.email'),
       json_extract(payload, '$.Invited.file.language'),
       json_extract(payload, '$.Invited.file.given_name'),
       json_extract(payload, '$.Invited.file.family_name'),
       json_extract(payload, '$.Invited.respond_by')
FROM events
WHERE aggregate_type = 'case' AND event_type = 'Invited';
