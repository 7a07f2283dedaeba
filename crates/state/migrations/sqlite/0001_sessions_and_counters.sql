-- Sessions keyed by their 16-byte public ID; `data` is the postcard encoding of
-- SessionData. `expires_ms` = min(seen_ms + idle, created_ms + absolute), kept up to
-- date on every use, so expiry is one indexed comparison.
CREATE TABLE sessions (
    id          BLOB    PRIMARY KEY NOT NULL,
    data        BLOB    NOT NULL,
    created_ms  INTEGER NOT NULL,
    seen_ms     INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_by_expiry ON sessions (expires_ms);

-- Shared named counters.
CREATE TABLE counters (
    name   TEXT    PRIMARY KEY NOT NULL,
    value  INTEGER NOT NULL
) WITHOUT ROWID;
