-- Shared opening of the session scripts: finds the live session document.
-- KEYS[1] session key; ARGV[1] idle timeout (ms); ARGV[2] the idle deadline:
-- now + idle timeout (ms since the epoch, by the caller's clock: one
-- redis.call less than TIME, and instances agree on time to well within the
-- timeouts' scale). Now itself is not sent: every argument is a Lua string
-- Redis makes on each call, and the common path needs only the deadline.
-- Leaves `doc` (the JSON) and `ttl` (ms the session may now live: the idle
-- timeout, capped by the time left to its absolute deadline), or returns nil.
-- Every instruction here runs inside Redis's one thread on every request, so
-- the common paths avoid searches, tables, number parsing and formatting.
local doc = redis.call('GET', KEYS[1])
if not doc then return nil end
-- Usually the idle timeout, passed on as the caller's string (formatting a Lua
-- number costs a printf).
local ttl, slid = ARGV[1], ARGV[2]
-- expiresAt is always the last field (both writers put it there). With 13
-- digits (every date from 2001 to 2286) it sits at a fixed offset from the end,
-- and digit strings of one width compare as their numbers do: a session whose
-- absolute deadline is past the idle one (the common case) needs no search and
-- no strtod (which was ~4% of Redis's time). Otherwise, the numbers.
local deadline
if string.sub(doc, -26, -15) == '"expiresAt":' and #slid == 13 then
  deadline = string.sub(doc, -14, -2)
  if deadline >= slid then deadline = nil end
else
  deadline = string.match(doc, '"expiresAt":(%d+)}$')
end
if deadline then
  local left = tonumber(deadline) - (tonumber(slid) - tonumber(ttl))
  if left <= 0 then
    redis.call('DEL', KEYS[1])
    return nil
  end
  if left < tonumber(ttl) then ttl = left end
end
