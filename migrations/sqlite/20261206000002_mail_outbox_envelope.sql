-- Each message's case, kind and language; see the PostgreSQL migration.
ALTER TABLE mail_outbox ADD COLUMN case_id TEXT;
ALTER TABLE mail_outbox ADD COLUMN kind TEXT;
ALTER TABLE mail_outbox ADD COLUMN language TEXT;

UPDATE mail_outbox
   SET case_id = e.aggregate_id,
       kind = CASE e.event_type
                  WHEN 'Invited' THEN 'invitation'
                  WHEN 'AccountCreated' THEN 'credentials'
                  WHEN 'InvitationReminded' THEN 'reminder'
                  WHEN 'InvitationExpired' THEN 'invitation_expired'
                  WHEN 'PhotoReturned' THEN 'photo_returned'
                  WHEN 'EcoprIssued' THEN 'ecopr_ready'
                  WHEN 'EcoprAmended' THEN 'ecopr_ready'
                  WHEN 'PrCardMailed' THEN 'card_mailed'
              END
  FROM events e
 WHERE mail_outbox.id = e.aggregate_id || '-' || e.sequence;

UPDATE mail_outbox
   SET language = (SELECT r.language FROM mail_recipients r WHERE r.case_id = mail_outbox.case_id);

CREATE INDEX mail_outbox_case ON mail_outbox (case_id, created_at);
