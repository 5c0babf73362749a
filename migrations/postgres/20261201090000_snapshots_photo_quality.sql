-- The case's photo now carries the quality pre-check's flags (PhotoState holds an
-- UploadedPhoto, no longer a bare PhotoRef), so snapshots written before cannot be read back.
-- Snapshots are a cache: drop them; each case is rebuilt from its events on its next load
-- and snapshotted again.
DELETE FROM snapshots;
