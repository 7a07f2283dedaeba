-- Stores a new session unless a live one has its key.
-- KEYS[1] session key; ARGV[1] the session JSON (an object, without expiresAt);
-- ARGV[2] idle timeout (ms); ARGV[3] absolute timeout (ms). Returns 1, or 0 if taken.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idle, absolute = tonumber(ARGV[2]), tonumber(ARGV[3])
local doc = string.sub(ARGV[1], 1, -2) .. string.format(',"expiresAt":%d}', now + absolute)
if redis.call('SET', KEYS[1], doc, 'NX', 'PX', math.min(idle, absolute)) then return 1 end
return 0
