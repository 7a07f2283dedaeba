-- Stores a new session unless a live one has its key; for a login, also
-- records it in its user's index.
-- KEYS[1] session key; KEYS[2] (logins only) the user's index hash
-- ARGV[1] now (ms since the epoch); ARGV[2] idle timeout (ms); ARGV[3] absolute
-- timeout (ms); ARGV[4] the session JSON (an object, without expiresAt);
-- ARGV[5], ARGV[6] (logins only) the session's ID and its index entry.
-- Returns 1, or 0 if the ID is taken.
local now, idle, absolute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local doc = string.sub(ARGV[4], 1, -2) .. string.format(',"expiresAt":%d}', now + absolute)
if not redis.call('SET', KEYS[1], doc, 'NX', 'PX', math.min(idle, absolute)) then return 0 end
if KEYS[2] then
  redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
  -- The index lives as long as its longest-lived session can, and this
  -- session, the newest, has the latest absolute deadline.
  if redis.call('PTTL', KEYS[2]) < absolute then redis.call('PEXPIRE', KEYS[2], absolute) end
end
return 1
