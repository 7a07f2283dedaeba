-- Events this service has applied, by eventId: a redelivery has its effect once.
CREATE TABLE processed_events (
    event_id     TEXT   PRIMARY KEY,
    processed_ms INTEGER   NOT NULL
);

-- Outbox rows that failed to publish too often, kept for an operator.
CREATE TABLE dead_letter (
    id         INTEGER    PRIMARY KEY,
    event_id   TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT,
    dead_ms    INTEGER    NOT NULL
);
