-- Applies one mutation to a session atomically, in one round trip, and slides
-- its idle deadline (capped by the absolute one); runs after the limits line
-- (made from the Rust constants, so the rules have one source) and prelude.lua.
-- KEYS[1] session key
-- ARGV[1] now (ms)   ARGV[2] idle timeout (ms)
-- ARGV[3] op: incr | add | set | remove | clear
-- ARGV[4] product ID   ARGV[5] quantity
-- Returns nil (no live session), a status reply naming the refused rule
-- (unchanged), or the new JSON as a bulk string (no table to build and convert).
-- The rules mirror Mutation::apply; the shared contract suite holds them equal.
local op, product, quantity = ARGV[3], ARGV[4], tonumber(ARGV[5])
if op == 'incr' then
  local digits = string.match(doc, '^{"counter":(%d+)')
  local counter = tonumber(digits)
  if counter >= max_counter then
    redis.call('PEXPIRE', KEYS[1], ttl)
    return redis.status_reply('counter')
  end
  local out = string.format('{"counter":%d', counter + 1) .. string.sub(doc, 12 + #digits)
  redis.call('SET', KEYS[1], out, 'PX', ttl)
  return out
end
local d = cjson.decode(doc)
local items = d.cartItems
local function find()
  for i, line in ipairs(items) do
    if line[1] == product then return i end
  end
  return nil
end
local refused
if op == 'add' then
  local i = find()
  if i then
    if items[i][2] + quantity > max_quantity then refused = 'quantity'
    else items[i][2] = items[i][2] + quantity end
  elseif quantity > max_quantity then refused = 'quantity'
  elseif #items >= max_lines then refused = 'full'
  else items[#items + 1] = { product, quantity } end
elseif op == 'set' then
  local i = find()
  if quantity > max_quantity then refused = 'quantity'
  elseif quantity == 0 then
    if i then table.remove(items, i) end
  elseif i then items[i][2] = quantity
  elseif #items >= max_lines then refused = 'full'
  else items[#items + 1] = { product, quantity } end
elseif op == 'remove' then
  local i = find()
  if i then table.remove(items, i) else refused = 'absent' end
elseif op == 'clear' then
  items = {}
else
  return redis.error_reply('unknown op ' .. op)
end
if refused then
  redis.call('PEXPIRE', KEYS[1], ttl)
  return redis.status_reply(refused)
end
-- Written by hand rather than by cjson.encode, which turns an empty cart into
-- {} and rounds integers past 14 digits.
local lines = {}
for i, line in ipairs(items) do
  lines[i] = string.format('[%s,%d]', cjson.encode(line[1]), line[2])
end
-- Fields at their defaults are left out, as the Rust side writes them.
local extra = ''
if d.currentStep ~= nil and d.currentStep ~= 'browsing' then
  extra = extra .. ',"currentStep":' .. cjson.encode(d.currentStep)
end
if d.userId ~= nil and d.userId ~= cjson.null then
  extra = extra .. ',"userId":' .. cjson.encode(d.userId)
end
local out = string.format('{"counter":%d,"cartItems":[%s]%s,"expiresAt":%d}',
  d.counter, table.concat(lines, ','), extra, d.expiresAt)
redis.call('SET', KEYS[1], out, 'PX', ttl)
return out
