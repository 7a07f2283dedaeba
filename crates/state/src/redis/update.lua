-- Applies one mutation to a session atomically, in one round trip, and slides
-- its idle deadline (capped by the absolute one); runs after the limits line
-- (made from the Rust constants, so the rules have one source) and prelude.lua.
-- KEYS[1] session key
-- ARGV[1] idle timeout (ms)   ARGV[2] now + idle timeout (ms)
-- ARGV[3] op: add | set | remove | clear | checkout | shipping | payment | complete,
--         or none for the counter's increment (the hottest op sends nothing)
-- ARGV[4] product ID (add, set, remove), the address as JSON (shipping) or the
--         payment token (payment)   ARGV[5] quantity (add, set)
-- An op sends only the arguments it uses: each is a Lua string Redis makes and
-- interns on every call (~2.5% of a counter update's work apiece).
-- Returns nil (no live session), a status reply naming the refused rule
-- (unchanged), or the new JSON as a bulk string (no table to build and convert).
-- The rules mirror Mutation::apply; the shared contract suite holds them equal.
local op, product = ARGV[3] or 'incr', ARGV[4]
-- A refusal changes nothing but the idle deadline.
local function refuse(rule)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return redis.status_reply(rule)
end
-- The two hot paths, the counter and a cart add, edit the text in place: no
-- decode, no table, no re-encoding. `counter` is always the first field and
-- `cartItems` the second (both writers put them there).
local digits = string.match(doc, '^{"counter":(%d+)')
if op == 'incr' then
  local counter = tonumber(digits)
  if counter >= max_counter then return refuse('counter') end
  local out = string.format('{"counter":%d', counter + 1) .. string.sub(doc, 12 + #digits)
  redis.call('SET', KEYS[1], out, 'PX', ttl)
  return out
end
-- Read here, past the counter's path, which has no quantity.
local quantity = tonumber(ARGV[5])
-- The cart's '[' (any other layout takes the general path below).
local open = digits and 25 + #digits
if op == 'add' and open and string.sub(doc, open - 13, open) == ',"cartItems":[' then
  -- Product IDs are [A-Za-z0-9_-]: `["ID",` can only be that product's line
  -- (a quote inside a JSON string is escaped), and a line `["ID",N]` holds no
  -- ']' but its last, so the cart ends at the first ']]' after its '['.
  local out
  local _, e = string.find(doc, '["' .. product .. '",', open, true)
  if e then
    local have = string.match(doc, '^%d+', e + 1)
    local total = tonumber(have) + quantity
    if total > max_quantity then return refuse('quantity') end
    -- %d, not `..`: concatenating a Lua number formats it with %.14g, a
    -- floating-point printf several times dearer.
    out = string.sub(doc, 1, e) .. string.format('%d', total) .. string.sub(doc, e + 1 + #have)
  elseif quantity > max_quantity then
    return refuse('quantity')
  else
    -- The caller's own text for the quantity (a plain integer).
    local line = '["' .. product .. '",' .. ARGV[5] .. ']'
    if string.sub(doc, open + 1, open + 1) == ']' then
      out = string.sub(doc, 1, open) .. line .. string.sub(doc, open + 1)
    else
      local close = string.find(doc, ']]', open, true)
      local lines, at = 0, string.find(doc, '["', open, true)
      while at and at < close do
        lines = lines + 1
        at = string.find(doc, '["', at + 2, true)
      end
      if lines >= max_lines then return refuse('full') end
      out = string.sub(doc, 1, close) .. ',' .. line .. string.sub(doc, close + 1)
    end
  end
  redis.call('SET', KEYS[1], out, 'PX', ttl)
  return out
end
local d = cjson.decode(doc)
local items = d.cartItems
-- The shipping address as JSON text for the writer below; set by 'shipping'.
local shipping_json = nil
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
elseif op == 'checkout' then
  if #items == 0 then refused = 'empty'
  else d.currentStep = 'checkout'; d.shipping = nil; d.paymentToken = nil end
elseif op == 'shipping' then
  local step = d.currentStep
  if step ~= 'checkout' and step ~= 'shipping' and step ~= 'payment' then refused = 'step:checkout'
  else
    -- Kept as the caller's JSON text (already encoded and checked in Rust).
    shipping_json = product
    d.currentStep = 'shipping'; d.paymentToken = nil
  end
elseif op == 'payment' then
  local step = d.currentStep
  if step ~= 'shipping' and step ~= 'payment' then refused = 'step:shipping'
  else d.paymentToken = product; d.currentStep = 'payment' end
elseif op == 'complete' then
  if d.currentStep ~= 'payment' then refused = 'step:payment'
  elseif #items == 0 then refused = 'empty'
  else
    items = {}; d.shipping = nil; d.paymentToken = nil; d.currentStep = 'confirmed'
  end
else
  return redis.error_reply('unknown op ' .. op)
end
if refused then return refuse(refused) end
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
if shipping_json == nil and type(d.shipping) == 'table' then
  shipping_json = cjson.encode(d.shipping)
end
if shipping_json ~= nil then
  extra = extra .. ',"shipping":' .. shipping_json
end
if d.paymentToken ~= nil and d.paymentToken ~= cjson.null then
  extra = extra .. ',"paymentToken":' .. cjson.encode(d.paymentToken)
end
local out = string.format('{"counter":%d,"cartItems":[%s]%s,"expiresAt":%d}',
  d.counter, table.concat(lines, ','), extra, d.expiresAt)
redis.call('SET', KEYS[1], out, 'PX', ttl)
return out
