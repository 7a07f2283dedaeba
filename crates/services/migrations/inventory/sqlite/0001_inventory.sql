-- The catalog and its stock. Stock never goes below zero (the CHECK is the
-- last line; reservations are guarded UPDATEs).
CREATE TABLE products (
    product_id  TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    stock       INTEGER NOT NULL CHECK (stock >= 0)
);

-- Orders whose stock was reserved (or refused), so a redelivered OrderCreated
-- reserves nothing twice.
CREATE TABLE processed_events (
    event_id     TEXT   PRIMARY KEY,
    processed_ms INTEGER   NOT NULL
);

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL UNIQUE,
    event_type TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_ms INTEGER    NOT NULL,
    sent_ms    INTEGER,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_ms IS NULL;

CREATE TABLE dead_letter (
    id         INTEGER    PRIMARY KEY,
    event_id   TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT,
    dead_ms    INTEGER    NOT NULL
);

INSERT INTO products (product_id, name, price_cents, stock) VALUES
    ('book-1', 'The Rust Programming Language', 3999, 100),
    ('book-2', 'Designing Data-Intensive Applications', 4599, 100),
    ('pen-7', 'Fountain pen', 1250, 500),
    ('mug-3', 'Coffee mug', 899, 200),
    ('sticker-5', 'Ferris sticker', 199, 1000);
