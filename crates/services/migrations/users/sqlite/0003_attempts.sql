-- Sign-in and registration attempts per key (a user name and a client
-- network, or a client network's registrations) in fixed one-minute windows:
-- failures counted, attempts under way held. In the users database so that
-- every instance sharing it shares the limit.
CREATE TABLE attempt_limits (
    key       TEXT PRIMARY KEY,
    window_ms BIGINT NOT NULL,
    failures  BIGINT NOT NULL,
    pending   BIGINT NOT NULL
);
