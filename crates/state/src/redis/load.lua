-- Reads a session and slides its idle deadline, capped by its absolute one.
-- KEYS[1] session key; ARGV[1] idle timeout (ms). Returns the JSON or false.
local doc = redis.call('GET', KEYS[1])
if not doc then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- expiresAt is always the last field (both writers put it there): read it
-- without decoding the whole document.
local left = tonumber(string.match(doc, '"expiresAt":(%d+)}$')) - now
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[1]), left))
return doc
