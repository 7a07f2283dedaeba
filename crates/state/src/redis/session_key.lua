-- Shared opening of the scripts that walk a user's index: a session's key from
-- its ID. ARGV[1] the session key prefix; ARGV[2] '1' when keys brace their
-- tag (on a cluster: `session:{TAG}REST`), else '0' (`session:<id>`).
local function session_key(id)
  if ARGV[2] == '1' then
    return ARGV[1] .. '{' .. string.sub(id, 1, 4) .. '}' .. string.sub(id, 5)
  end
  return ARGV[1] .. id
end
