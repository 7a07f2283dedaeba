-- Mixed load for the soak, over a fixed set of session cookies: for each
-- session in turn POST /increment, PUT /cart/items/book-K (quantity cycling
-- 1..5, so carts never grow past their limits), GET /cart, GET /session, a
-- stateless POST /increment, POST /counters/soak/increment; and every
-- 5,000th request a login (a new session, and an entry in the user's session
-- index) that a later request logs out: sessions are made and freed all the
-- time while the number alive stays put. (Logins are rare: each is an
-- Argon2id hash of 19 MiB.)
-- usage: wrk ... -s soak.lua URL -- COOKIEFILE
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

local cookies, i = {}, 0
local fresh = {} -- cookies of new sessions, waiting to be logged out

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then cookies[#cookies + 1] = line end
  end
  assert(#cookies > 0, "no cookies in " .. args[1])
end

function response(status, headers, body)
  local set = headers["set-cookie"] or headers["Set-Cookie"]
  if set then
    local cookie = set:match("^(session_id=[^;]+)")
    if cookie and #fresh < 10000 then fresh[#fresh + 1] = cookie end
  end
end

function request()
  i = i + 1
  if i % 5000 == 0 then
    return wrk.format("POST", "/login", { ["Content-Type"] = "application/json" },
      '{"user":"alice","password":"correct-password"}')
  end
  if i % 5000 == 2500 and #fresh > 0 then
    return wrk.format("POST", "/logout", { ["Cookie"] = table.remove(fresh) })
  end
  local c = cookies[math.floor(i / 6) % #cookies + 1]
  local kind = i % 6
  if kind == 0 then return wrk.format("POST", "/increment", { ["Cookie"] = c }) end
  if kind == 1 then
    return wrk.format("PUT", string.format("/cart/items/book-%d", i % 4),
      { ["Cookie"] = c, ["Content-Type"] = "application/json" },
      string.format('{"quantity":%d}', i % 5 + 1))
  end
  if kind == 2 then return wrk.format("GET", "/cart", { ["Cookie"] = c }) end
  if kind == 3 then return wrk.format("GET", "/session", { ["Cookie"] = c }) end
  if kind == 4 then
    return wrk.format("POST", "/increment", { ["Content-Type"] = "application/json" },
      string.format('{"currentCount":%d}', i % 1000))
  end
  return wrk.format("POST", "/counters/soak/increment")
end
