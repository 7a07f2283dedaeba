-- Orders, numbered by the database (`order-<n>`).
CREATE TABLE orders (
    n               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('created', 'confirmed', 'rejected')),
    items           TEXT    NOT NULL,  -- JSON [{"productId", "quantity"}]
    shipping        TEXT,              -- JSON address, when given
    payment_token   TEXT,              -- the token (tok_…), never a card number
    idempotency_key TEXT,
    request_hash    TEXT,              -- SHA-256 of the request, to tell a retry from a reuse
    created_ms      INTEGER NOT NULL,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX orders_by_user ON orders (user_id, n);

-- The transactional outbox: each event is written in the transaction of the
-- change it announces; a relay publishes and marks it.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL UNIQUE,
    event_type TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    sent_ms    INTEGER,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_ms IS NULL;
