-- Deletes every session in a user's index, and the index.
-- KEYS[1] the user's index hash; ARGV[1] the session key prefix.
-- Returns how many live sessions were deleted.
local ids = redis.call('HKEYS', KEYS[1])
local n = 0
for _, id in ipairs(ids) do
  n = n + redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return n
