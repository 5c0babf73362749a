-- One open case per person per application, claimed by the appending transaction; see the
-- PostgreSQL migration. A clash of the primary key is what sqlite-es reads as a lost race.
CREATE TABLE invited_people
(
    application_number TEXT NOT NULL,
    uci                TEXT NOT NULL,
    case_id            TEXT NOT NULL,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (application_number, uci)
) STRICT;
CREATE INDEX invited_people_case ON invited_people (case_id);

CREATE TRIGGER events_invited_person
    BEFORE INSERT ON events
    WHEN NEW.event_type = 'Invited'
BEGIN
    INSERT INTO invited_people (application_number, uci, case_id)
    VALUES (json_extract(NEW.payload, '$.Invited.file.application_number'),
            json_extract(NEW.payload, '$.Invited.file.uci'), NEW.aggregate_id);
END;

CREATE TRIGGER events_invited_person_closed
    BEFORE INSERT ON events
    WHEN NEW.event_type IN ('InvitationDeclined', 'InvitationExpired',
                            'ReferredToInPersonLanding', 'CaseWithdrawn')
BEGIN
    DELETE FROM invited_people WHERE case_id = NEW.aggregate_id;
END;

INSERT OR IGNORE INTO invited_people (application_number, uci, case_id)
SELECT json_extract(payload, '$.Invited.file.application_number'),
       json_extract(payload, '$.Invited.file.uci'), aggregate_id
  FROM events i
 WHERE event_type = 'Invited'
   AND NOT EXISTS (SELECT 1 FROM events c
                    WHERE c.aggregate_id = i.aggregate_id
                      AND c.event_type IN ('InvitationDeclined', 'InvitationExpired',
                                           'ReferredToInPersonLanding', 'CaseWithdrawn'))
 ORDER BY position;
