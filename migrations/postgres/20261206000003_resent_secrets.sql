-- Re-sent invitations and reissued credentials end the old secret in the appending
-- transaction of the event that records them, so that no moment has both or neither:
-- * a re-sent invitation's code waits in invitation_codes_pending (parked by the request
--   before the append, keyed by the case so that a retry replaces it); `InvitationResent`
--   swaps it in for the old code;
-- * `CredentialsReissued` ends the applicant's temporary account and its sessions; the
--   accounts reactor then makes the new credentials as after an acceptance.
CREATE TABLE invitation_codes_pending
(
    case_id    text        PRIMARY KEY,
    code_hash  bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION events_swap_secrets() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF NEW.event_type = 'InvitationResent' THEN
        DELETE FROM invitation_codes WHERE case_id = NEW.aggregate_id;
        INSERT INTO invitation_codes (code_hash, case_id)
        SELECT code_hash, case_id FROM invitation_codes_pending WHERE case_id = NEW.aggregate_id;
        DELETE FROM invitation_codes_pending WHERE case_id = NEW.aggregate_id;
    ELSIF NEW.event_type = 'CredentialsReissued' THEN
        DELETE FROM sessions
         WHERE username IN (SELECT username FROM accounts
                             WHERE case_id = NEW.aggregate_id AND role = 'applicant');
        DELETE FROM accounts WHERE case_id = NEW.aggregate_id AND role = 'applicant';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_swap_secrets
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_swap_secrets();

GRANT SELECT, INSERT, UPDATE, DELETE ON invitation_codes_pending TO prconfirm_app;
