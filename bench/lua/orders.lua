-- POST /orders with bearer tokens handed out round-robin (one per line of the
-- file; mklogins.py bearer writes it), one sticker each, no idempotency key.
-- usage: wrk ... -s orders.lua URL -- TOKENFILE
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

local reqs, n, i = {}, 0, 0

function init(args)
  local file = args[1]
  assert(file, "args: TOKENFILE")
  local k = 0
  for line in io.lines(file) do
    if #line > 0 then
      k = k + 1
      -- mklogins.py alternates alice (user-1) and bob (user-2).
      local user = (k % 2 == 1) and "user-1" or "user-2"
      local body = string.format('{"userId":"%s","items":[{"productId":"sticker-5","quantity":1}]}', user)
      reqs[#reqs + 1] = wrk.format("POST", "/orders",
        { ["Authorization"] = "Bearer " .. line, ["Content-Type"] = "application/json" }, body)
    end
  end
  n = #reqs
  assert(n > 0, "no tokens in " .. file)
end

function request()
  i = i % n + 1
  return reqs[i]
end
