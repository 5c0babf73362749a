-- The staff second factor (TOTP) and disabled accounts. The secret is sealed
-- (XChaCha20-Poly1305) under a key file outside the database, bound to its username; the
-- last step a code was accepted for makes each code good once. A staff account without a
-- secret (made before this migration) cannot sign in until `prconfirm staff reset-mfa`.
-- A disabled account cannot sign in and its sessions end at once.
ALTER TABLE accounts
    ADD COLUMN mfa_secret    bytea,
    ADD COLUMN mfa_last_step bigint,
    ADD COLUMN disabled_at   timestamptz;
