-- Logged-in sessions carry their user (for GET /sessions and log-out-everywhere)
-- and the login's user agent; anonymous sessions leave both NULL. The partial
-- index holds only logged-in sessions and expires with their rows.
ALTER TABLE sessions ADD COLUMN user_id TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
CREATE INDEX sessions_by_user ON sessions (user_id) WHERE user_id IS NOT NULL;

-- Access tokens revoked before their expiry (logout with a bearer token).
CREATE TABLE denylist (
    jti        TEXT    PRIMARY KEY NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX denylist_by_expiry ON denylist (expires_ms);
