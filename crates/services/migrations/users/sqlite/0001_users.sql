-- Users: `n` numbers them (`user-<n>`), `username` is what they log in with.
CREATE TABLE users (
    n             INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    password_hash TEXT    NOT NULL,
    created_ms    INTEGER NOT NULL
);

-- Refresh tokens, by the SHA-256 of the token; never the token itself.
-- A family is every token descended from one login; reuse of a retired token
-- outside the grace window revokes the family.
CREATE TABLE refresh_families (
    family     TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT    PRIMARY KEY,
    family     TEXT    NOT NULL REFERENCES refresh_families (family) ON DELETE CASCADE,
    issued_ms  INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    retired_ms INTEGER
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_ms);
