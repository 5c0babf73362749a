-- One open case per person per application. The appending transaction claims the person
-- (application number, UCI) with its `Invited` event: a second invitation of the same person,
-- even from another instance at the same moment, fails its append with a unique violation,
-- which the event store reports as a lost race; the handler then finds the holder here and
-- answers 409 `already_invited` with its case. A closing event frees the person, so that a
-- closed case's applicant can be invited again.
CREATE TABLE invited_people
(
    application_number text        NOT NULL,
    uci                text        NOT NULL,
    case_id            text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_number, uci)
);
CREATE INDEX invited_people_case ON invited_people (case_id);

CREATE FUNCTION events_claim_invited_person() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF NEW.event_type = 'Invited' THEN
        INSERT INTO invited_people (application_number, uci, case_id)
        VALUES (NEW.payload -> 'Invited' -> 'file' ->> 'application_number',
                NEW.payload -> 'Invited' -> 'file' ->> 'uci', NEW.aggregate_id);
    ELSIF NEW.event_type IN ('InvitationDeclined', 'InvitationExpired',
                             'ReferredToInPersonLanding', 'CaseWithdrawn') THEN
        DELETE FROM invited_people WHERE case_id = NEW.aggregate_id;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_invited_person
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_claim_invited_person();

-- The open cases invited before this table existed (the earliest case of a person wins).
INSERT INTO invited_people (application_number, uci, case_id)
SELECT payload -> 'Invited' -> 'file' ->> 'application_number',
       payload -> 'Invited' -> 'file' ->> 'uci', aggregate_id
  FROM events i
 WHERE event_type = 'Invited'
   AND NOT EXISTS (SELECT 1 FROM events c
                    WHERE c.aggregate_id = i.aggregate_id
                      AND c.event_type IN ('InvitationDeclined', 'InvitationExpired',
                                           'ReferredToInPersonLanding', 'CaseWithdrawn'))
 ORDER BY position
ON CONFLICT DO NOTHING;

GRANT SELECT, INSERT, DELETE ON invited_people TO prconfirm_app;
