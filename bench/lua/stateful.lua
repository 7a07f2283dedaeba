-- Stateful requests over a fixed set of session cookies, handed out round-robin.
-- usage: wrk ... -s stateful.lua URL -- COOKIEFILE increment|cart
--   increment: POST /increment with the cookie
--   cart:      POST /cart/items {"productId":"book-K","quantity":1}, K cycling 0..3
-- With more cookies than connections a session is not normally in flight twice.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

local reqs, n, i = {}, 0, 0

function init(args)
  local file, mode = args[1], args[2]
  assert(file and (mode == "increment" or mode == "cart"), "args: COOKIEFILE increment|cart")
  local cookies = {}
  for line in io.lines(file) do
    if #line > 0 then cookies[#cookies + 1] = line end
  end
  assert(#cookies > 0, "no cookies in " .. file)
  if mode == "increment" then
    for k, c in ipairs(cookies) do
      reqs[k] = wrk.format("POST", "/increment", { ["Cookie"] = c })
    end
  else
    local nc = #cookies
    for p = 0, 3 do
      for k, c in ipairs(cookies) do
        local body = string.format('{"productId":"book-%d","quantity":1}', p)
        reqs[p * nc + k] = wrk.format("POST", "/cart/items",
          { ["Cookie"] = c, ["Content-Type"] = "application/json" }, body)
      end
    end
  end
  n = #reqs
end

function request()
  i = i % n + 1
  return reqs[i]
end
