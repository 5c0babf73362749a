-- Who acts for a minor: the guardian's case; see the PostgreSQL migration.
CREATE TABLE guardianships
(
    minor_case_id    TEXT PRIMARY KEY,
    guardian_case_id TEXT NOT NULL
) STRICT;
CREATE INDEX guardianships_guardian ON guardianships (guardian_case_id);

CREATE TRIGGER events_guardianship
    BEFORE INSERT ON events
    WHEN NEW.event_type = 'Invited'
        AND json_type(NEW.payload, '$.Invited.guardian_case') = 'text'
BEGIN
    INSERT INTO guardianships (minor_case_id, guardian_case_id)
    VALUES (NEW.aggregate_id, json_extract(NEW.payload, '$.Invited.guardian_case'));
END;
