-- The data key of each person (one case is one person), for the envelopes that hold their
-- personal fields. The key is stored only wrapped (XChaCha20-Poly1305) by a key-encryption
-- key (KEK) that never enters the database; `kek_id` names which KEK wrapped it, so that a
-- rotation can re-wrap in batches and resume where it stopped. Disposal destroys the key:
-- `wrapped` and `kek_id` become NULL and `disposed_at` says when, so that readers can tell
-- "disposed of" from "never had a key". A disposed row is never given a key again.
CREATE TABLE person_keys
(
    case_id      text        PRIMARY KEY,
    -- Random, not secret: written in the head of every envelope under this key.
    key_id       bytea       NOT NULL CHECK (octet_length(key_id) = 8),
    kek_id       text,
    wrapped      bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz,
    disposed_at  timestamptz,
    CHECK ((disposed_at IS NULL) = (wrapped IS NOT NULL)),
    CHECK ((wrapped IS NULL) = (kek_id IS NULL))
);
-- Rotation and status count and find the keys still under a KEK.
CREATE INDEX person_keys_by_kek ON person_keys (kek_id) WHERE wrapped IS NOT NULL;

GRANT SELECT, INSERT, UPDATE ON person_keys TO prconfirm_app;
