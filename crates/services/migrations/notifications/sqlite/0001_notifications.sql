-- One notification per order outcome for its user; "delivery" is this row.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT    NOT NULL,
    order_id   TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    created_ms INTEGER    NOT NULL
);
CREATE INDEX notifications_by_user ON notifications (user_id, id);

CREATE TABLE processed_events (
    event_id     TEXT   PRIMARY KEY,
    processed_ms INTEGER   NOT NULL
);
