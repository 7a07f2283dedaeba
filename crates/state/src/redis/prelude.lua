-- Shared opening of the session scripts: finds the live session document.
-- KEYS[1] session key; ARGV[1] now (ms since the epoch, the caller's clock: one
-- redis.call less than TIME, and instances agree on time to well within the
-- timeouts' scale); ARGV[2] idle timeout (ms); ARGV[3] now + idle timeout (ms).
-- Leaves `doc` (the JSON) and `ttl` (ms the session may now live: the idle
-- timeout, capped by the time left to its absolute deadline), or returns nil.
-- Every instruction here runs inside Redis's one thread on every request, so
-- the common paths avoid searches, tables, number parsing and formatting.
local doc = redis.call('GET', KEYS[1])
if not doc then return nil end
-- Usually the idle timeout, passed on as the caller's string (formatting a Lua
-- number costs a printf).
local ttl = ARGV[2]
local now, slid = ARGV[1], ARGV[3]
-- expiresAt is always the last field (both writers put it there). With 13
-- digits (every date from 2001 to 2286) it sits at a fixed offset from the end,
-- and digit strings of one width compare as their numbers do: no search and no
-- strtod (which was ~4% of Redis's time). Any other width takes the numbers.
if string.sub(doc, -26, -15) == '"expiresAt":' and #now == 13 and #slid == 13 then
  local deadline = string.sub(doc, -14, -2)
  if deadline <= now then
    redis.call('DEL', KEYS[1])
    return nil
  end
  if deadline < slid then ttl = tonumber(deadline) - tonumber(now) end
else
  local left = tonumber(string.match(doc, '"expiresAt":(%d+)}$')) - tonumber(now)
  if left <= 0 then
    redis.call('DEL', KEYS[1])
    return nil
  end
  if left < tonumber(ttl) then ttl = left end
end
