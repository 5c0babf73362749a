-- Each message's case, kind and language beside its text, so that officers can see a case's
-- messages and where each stands (`GET /v1/cases/{id}/messages`) without reading a body.
-- Messages queued before are filled from the event their id names (`<case>-<sequence>`).
ALTER TABLE mail_outbox ADD COLUMN case_id text;
ALTER TABLE mail_outbox ADD COLUMN kind text;
ALTER TABLE mail_outbox ADD COLUMN language text;

UPDATE mail_outbox o
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
 WHERE o.id = e.aggregate_id || '-' || e.sequence;

UPDATE mail_outbox o
   SET language = r.language
  FROM mail_recipients r
 WHERE r.case_id = o.case_id;

CREATE INDEX mail_outbox_case ON mail_outbox (case_id, created_at);
