-- Deletes every session in a user's index, and the index (after session_key.lua).
-- KEYS[1] the user's index hash; ARGV[1] the session key prefix; ARGV[2] '1'
-- when session keys brace their tag (on a cluster), else '0'.
-- Returns how many live sessions were deleted. On a cluster, session keys are
-- `session:{TAG}REST`, on the index's hash slot (a login's tag is its user's).
local ids = redis.call('HKEYS', KEYS[1])
local n = 0
for _, id in ipairs(ids) do
  n = n + redis.call('DEL', session_key(id))
end
redis.call('DEL', KEYS[1])
return n
