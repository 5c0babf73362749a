-- The notices' recipients came from a copy of each invitation's e-mail and names, kept in
-- the clear. The mail reactor now reads them from the case's invitation in the log, opened
-- with the person's key, so the copy goes, and with it the personal data it held. Sent
-- messages keep no address either: the outbox records only that they went.
DROP TABLE mail_recipients;
UPDATE mail_outbox SET recipient = '' WHERE sent_at IS NOT NULL;
