-- Who acts for a minor: the guardian's case, recorded by the minor's `Invited` event (1.1,
-- `guardian_case`). Kept by the appending transaction, like `invited_people`, so that a
-- guardian's session finds their dependants the moment the invitation is acknowledged. Case
-- ids only: no personal data.
CREATE TABLE guardianships
(
    minor_case_id    text PRIMARY KEY,
    guardian_case_id text NOT NULL
);
CREATE INDEX guardianships_guardian ON guardianships (guardian_case_id);

CREATE FUNCTION events_record_guardianship() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF NEW.event_type = 'Invited'
        AND jsonb_typeof(NEW.payload -> 'Invited' -> 'guardian_case') = 'string' THEN
        INSERT INTO guardianships (minor_case_id, guardian_case_id)
        VALUES (NEW.aggregate_id, NEW.payload -> 'Invited' ->> 'guardian_case');
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_guardianship
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_record_guardianship();

GRANT SELECT, INSERT ON guardianships TO prconfirm_app;
