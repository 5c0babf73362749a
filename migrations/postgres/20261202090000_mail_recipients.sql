-- Who each case's notices go to (the e-mail and language of its invitation), kept by the mail
-- reactor from `Invited` events so that later notices (reminder, expiry, photo returned, card
-- mailed) need not read the event log. Filled here for cases invited before this table.
CREATE TABLE mail_recipients
(
    case_id     text PRIMARY KEY,
    email       text NOT NULL,
    language    text NOT NULL,
    given_name  text NOT NULL,
    family_name text NOT NULL,
    -- The invitation's answer date (RFC 3339), for the reminder.
    respond_by  text NOT NULL
);

INSERT INTO mail_recipients (case_id, email, language, given_name, family_name, respond_by)
SELECT aggregate_id,
       payload #>> '{Invited,file,email}',
       payload #>> '{Invited,file,language}',
       payload #>> '{Invited,file,given_name}',
       payload #>> '{Invited,file,family_name}',
       payload #>> '{Invited,respond_by}'
FROM events
WHERE aggregate_type = 'case' AND event_type = 'Invited'
ON CONFLICT (case_id) DO NOTHING;

GRANT SELECT, INSERT, UPDATE, DELETE ON mail_recipients TO prconfirm_app;
