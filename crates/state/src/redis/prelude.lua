-- Shared opening of the session scripts: finds the live session document.
-- KEYS[1] session key; ARGV[1] idle timeout (ms).
-- Leaves `doc` (the JSON, or false) and `ttl` (ms the session may now live:
-- the idle timeout, capped by the time left to its absolute deadline).
-- expiresAt is always the last field (both writers put it there), so it is
-- read without decoding the whole document.
local function live_session()
  local doc = redis.call('GET', KEYS[1])
  if not doc then return false, 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local left = tonumber(string.match(doc, '"expiresAt":(%d+)}$')) - now
  if left <= 0 then
    redis.call('DEL', KEYS[1])
    return false, 0
  end
  return doc, math.min(tonumber(ARGV[1]), left)
end
local doc, ttl = live_session()
if not doc then return false end
