-- Addresses an account signed in from in the last 30 days: the account-wide sign-in
-- throttle does not hold these up (see the PostgreSQL migration of the same name).
CREATE TABLE sign_in_known_addresses
(
    username          TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    address           TEXT NOT NULL,
    last_signed_in_at TEXT NOT NULL,
    PRIMARY KEY (username, address)
) STRICT;
CREATE INDEX sign_in_known_addresses_by_time ON sign_in_known_addresses (last_signed_in_at);
