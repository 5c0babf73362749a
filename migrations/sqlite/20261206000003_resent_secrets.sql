-- The old secret ends in the transaction of the event that replaces it; see the PostgreSQL
-- migration.
CREATE TABLE invitation_codes_pending
(
    case_id    TEXT PRIMARY KEY,
    code_hash  BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TRIGGER events_invitation_resent
    BEFORE INSERT ON events
    WHEN NEW.event_type = 'InvitationResent'
BEGIN
    DELETE FROM invitation_codes WHERE case_id = NEW.aggregate_id;
    INSERT INTO invitation_codes (code_hash, case_id)
    SELECT code_hash, case_id FROM invitation_codes_pending WHERE case_id = NEW.aggregate_id;
    DELETE FROM invitation_codes_pending WHERE case_id = NEW.aggregate_id;
END;

CREATE TRIGGER events_credentials_reissued
    BEFORE INSERT ON events
    WHEN NEW.event_type = 'CredentialsReissued'
BEGIN
    DELETE FROM sessions
     WHERE username IN (SELECT username FROM accounts
                         WHERE case_id = NEW.aggregate_id AND role = 'applicant');
    DELETE FROM accounts WHERE case_id = NEW.aggregate_id AND role = 'applicant';
END;
