-- Server secrets every instance sharing this database must agree on (the key
-- refresh-token successors are derived under), created once at first start.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
