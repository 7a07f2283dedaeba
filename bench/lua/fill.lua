-- Creates sessions over one connection (run with -t1 -c1, so that request and
-- response strictly alternate): each session is POST /increment without a cookie,
-- then, with the cookie it got, "book-1" x2 and "pen-7" x1 added to the cart
-- (mode "typical"), or only the first request (mode "counter").
-- Exits after SESSIONS sessions (non-zero if any request failed).
-- usage: wrk -t1 -c1 -d600s -s fill.lua URL -- SESSIONS typical|counter
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

local target, mode = 0, "typical"
local created, step, cookie = 0, 0, nil
local failures = 0

function init(args)
  target = tonumber(args[1]) or 1000
  mode = args[2] or "typical"
end

local function cart(c, product, quantity)
  return wrk.format("POST", "/cart/items", { ["Cookie"] = c, ["Content-Type"] = "application/json" },
    string.format('{"productId":"%s","quantity":%d}', product, quantity))
end

function request()
  if step == 0 then return wrk.format("POST", "/increment") end
  if step == 1 then return cart(cookie, "book-1", 2) end
  return cart(cookie, "pen-7", 1)
end

function response(status, headers, body)
  if status >= 400 then failures = failures + 1 end
  if step == 0 then
    local set = headers["Set-Cookie"] or headers["set-cookie"] or ""
    cookie = set:match("^([^;]+)")
    created = created + 1
    if mode == "typical" and cookie then step = 1 else step = 0 end
  elseif step == 1 then
    step = 2
  else
    step = 0
  end
  if step == 0 and created >= target then
    if failures > 0 then io.stderr:write("fill: " .. failures .. " failed requests\n") end
    io.stdout:write("filled " .. created .. " sessions\n")
    io.stdout:flush()
    -- wrk.thread:stop() would leave wrk sleeping out its -d; end the process instead.
    os.exit(failures == 0 and 0 or 1)
  end
end
