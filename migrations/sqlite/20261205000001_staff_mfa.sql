-- The staff second factor (TOTP) and disabled accounts (see the PostgreSQL migration of the
-- same name).
ALTER TABLE accounts ADD COLUMN mfa_secret BLOB;
ALTER TABLE accounts ADD COLUMN mfa_last_step INTEGER;
ALTER TABLE accounts ADD COLUMN disabled_at TEXT;
