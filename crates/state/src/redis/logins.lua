-- Lists a user's live sessions, dropping index entries whose session is gone
-- (after session_key.lua).
-- KEYS[1] the user's index hash; ARGV[1] the session key prefix; ARGV[2] '1'
-- when session keys brace their tag (on a cluster), else '0'.
-- Returns a flat array: session ID, index entry JSON, PTTL (ms), for each.
-- The session keys are made here from the IDs; on a cluster they brace the
-- tag (`session:{TAG}REST`), a login's tag is its user's, so they share the
-- index's hash slot.
local entries = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #entries, 2 do
  local id = entries[i]
  local ttl = redis.call('PTTL', session_key(id))
  if ttl < 0 then
    redis.call('HDEL', KEYS[1], id)
  else
    out[#out + 1] = id
    out[#out + 1] = entries[i + 1]
    out[#out + 1] = ttl
  end
end
return out
