-- The person an `Invited` event claims is named by the blind index in its metadata
-- (`blind_application_number`, `blind_uci`; see the PostgreSQL migration); events from
-- before carry neither and claim by the plain fields, which the server rewrites to their
-- blind index on start-up.
DROP TRIGGER events_invited_person;

CREATE TRIGGER events_invited_person
    BEFORE INSERT ON events
    WHEN NEW.event_type = 'Invited'
BEGIN
    INSERT INTO invited_people (application_number, uci, case_id)
    VALUES (COALESCE(json_extract(NEW.metadata, '$.blind_application_number'),
                     json_extract(NEW.payload, '$.Invited.file.application_number')),
            COALESCE(json_extract(NEW.metadata, '$.blind_uci'),
                     json_extract(NEW.payload, '$.Invited.file.uci')),
            NEW.aggregate_id);
END;
