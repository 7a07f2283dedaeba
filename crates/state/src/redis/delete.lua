-- Deletes a session and, for a login, its entry in its user's index.
-- KEYS[1] session key; ARGV[1] the index key up to the user ID
-- (`user-sessions:{TAG}`, the session's tag: a login's is its user's);
-- ARGV[2] the session's ID. Returns 1 if the session was live, else 0.
local doc = redis.call('GET', KEYS[1])
if not doc then return 0 end
redis.call('DEL', KEYS[1])
if string.find(doc, '"userId":', 1, true) then
  local user = cjson.decode(doc).userId
  if type(user) == 'string' then
    -- The index key is built here from the stored user; it shares the
    -- session's hash slot, so Redis Cluster allows it.
    local index = ARGV[1] .. user
    redis.call('HDEL', index, ARGV[2])
  end
end
return 1
