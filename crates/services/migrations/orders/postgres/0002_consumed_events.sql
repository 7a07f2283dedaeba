-- Events this service has applied, by eventId: a redelivery has its effect once.
CREATE TABLE processed_events (
    event_id     TEXT   PRIMARY KEY,
    processed_ms BIGINT   NOT NULL
);

-- Outbox rows that failed to publish too often, kept for an operator.
CREATE TABLE dead_letter (
    id         BIGINT    PRIMARY KEY,
    event_id   TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    attempts   BIGINT  NOT NULL,
    last_error TEXT,
    dead_ms    BIGINT    NOT NULL
);
