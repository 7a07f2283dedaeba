-- Shared opening of the session scripts: finds the live session document.
-- KEYS[1] session key; ARGV[1] now (ms since the epoch, the caller's clock: one
-- redis.call less than TIME, and instances agree on time to well within the
-- timeouts' scale); ARGV[2] idle timeout (ms).
-- Leaves `doc` (the JSON) and `ttl` (ms the session may now live: the idle
-- timeout, capped by the time left to its absolute deadline), or returns nil.
-- Every instruction here runs inside Redis's one thread on every request, so
-- the common paths avoid searches, tables and number formatting.
local doc = redis.call('GET', KEYS[1])
if not doc then return nil end
-- expiresAt is always the last field (both writers put it there). With 13
-- digits (every date from 2001 to 2286) it sits at a fixed offset from the end,
-- so it is read without a search; any other width takes the pattern.
local deadline
if string.sub(doc, -26, -15) == '"expiresAt":' then
  deadline = tonumber(string.sub(doc, -14, -2))
else
  deadline = tonumber(string.match(doc, '"expiresAt":(%d+)}$'))
end
local left = deadline - tonumber(ARGV[1])
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return nil
end
-- Usually the idle timeout, passed on as the caller's string (formatting a Lua
-- number costs a printf).
local ttl = ARGV[2]
if left < tonumber(ttl) then ttl = left end
