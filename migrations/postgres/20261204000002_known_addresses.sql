-- Addresses an account signed in from (the right password) in the last 30 days. The
-- account-wide sign-in throttle does not hold these up, so strangers guessing from other
-- addresses cannot lock the real user out of the places they sign in from; rows older than
-- 30 days are deleted whenever one is written.
CREATE TABLE sign_in_known_addresses
(
    username          text        NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    address           text        NOT NULL,
    last_signed_in_at timestamptz NOT NULL,
    PRIMARY KEY (username, address)
);
CREATE INDEX sign_in_known_addresses_by_time ON sign_in_known_addresses (last_signed_in_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON sign_in_known_addresses TO prconfirm_app;
