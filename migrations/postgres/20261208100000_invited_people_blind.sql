-- The person an `Invited` event claims is named by the blind index of their application
-- number and UCI (HMAC-SHA-256 under the blind-index key, which never enters the database),
-- carried in the event's metadata as `blind_application_number` and `blind_uci`: since
-- version 2.0 the payload holds those fields sealed, so the trigger could no longer read
-- them. Events from before carry neither and still claim by the plain fields; the server
-- rewrites such rows to their blind index on start-up (the database has no key to do it
-- here), so that `invited_people` holds no personal data.
CREATE OR REPLACE FUNCTION events_claim_invited_person() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF NEW.event_type = 'Invited' THEN
        INSERT INTO invited_people (application_number, uci, case_id)
        VALUES (COALESCE(NEW.metadata ->> 'blind_application_number',
                         NEW.payload -> 'Invited' -> 'file' ->> 'application_number'),
                COALESCE(NEW.metadata ->> 'blind_uci',
                         NEW.payload -> 'Invited' -> 'file' ->> 'uci'),
                NEW.aggregate_id);
    ELSIF NEW.event_type IN ('InvitationDeclined', 'InvitationExpired',
                             'ReferredToInPersonLanding', 'CaseWithdrawn') THEN
        DELETE FROM invited_people WHERE case_id = NEW.aggregate_id;
    END IF;
    RETURN NEW;
END
$$;

GRANT UPDATE ON invited_people TO prconfirm_app;
