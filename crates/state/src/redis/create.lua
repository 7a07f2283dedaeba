-- Stores a new session unless a live one has its key.
-- KEYS[1] session key; ARGV[1] now (ms since the epoch); ARGV[2] idle timeout
-- (ms); ARGV[3] absolute timeout (ms); ARGV[4] the session JSON (an object,
-- without expiresAt). Returns 1, or 0 if taken.
local now, idle, absolute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local doc = string.sub(ARGV[4], 1, -2) .. string.format(',"expiresAt":%d}', now + absolute)
if redis.call('SET', KEYS[1], doc, 'NX', 'PX', math.min(idle, absolute)) then return 1 end
return 0
