-- Reads a session and slides its idle deadline (after prelude.lua).
-- Returns the JSON or false.
redis.call('PEXPIRE', KEYS[1], ttl)
return doc
