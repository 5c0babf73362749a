-- The data key of each person, stored only wrapped by a key-encryption key outside the
-- database; see the PostgreSQL migration of the same name.
CREATE TABLE person_keys
(
    case_id      TEXT PRIMARY KEY NOT NULL,
    key_id       BLOB NOT NULL CHECK (length(key_id) = 8),
    kek_id       TEXT,
    wrapped      BLOB,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    rewrapped_at TEXT,
    disposed_at  TEXT,
    CHECK ((disposed_at IS NULL) = (wrapped IS NOT NULL)),
    CHECK ((wrapped IS NULL) = (kek_id IS NULL))
) STRICT;
CREATE INDEX person_keys_by_kek ON person_keys (kek_id) WHERE wrapped IS NOT NULL;
