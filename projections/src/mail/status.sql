-- A case's messages with where each stands: sent once the outlet took it; failed while the
-- delivery reactor holds it parked after a failed attempt (attempts > 0).
SELECT o.kind, o.language, o.created_at, o.sent_at,
       CASE WHEN p.attempts > 0 THEN p.last_failed_at END,
       CASE WHEN p.attempts > 0 THEN p.error END
  FROM mail_outbox o
  LEFT JOIN consumer_parked p ON p.consumer = 'mail_delivery' AND p.item = o.id
 WHERE o.case_id = $1
 ORDER BY o.created_at, o.id
