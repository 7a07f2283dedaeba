-- GET /profile with credentials handed out round-robin: a `session_id=…`
-- cookie or a bearer token per line of the file (mklogins.py writes it).
-- usage: wrk ... -s profile.lua URL -- FILE cookie|bearer
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

local reqs, n, i = {}, 0, 0

function init(args)
  local file, mode = args[1], args[2]
  assert(file and (mode == "cookie" or mode == "bearer"), "args: FILE cookie|bearer")
  for line in io.lines(file) do
    if #line > 0 then
      local headers
      if mode == "cookie" then
        headers = { ["Cookie"] = line }
      else
        headers = { ["Authorization"] = "Bearer " .. line }
      end
      reqs[#reqs + 1] = wrk.format("GET", "/profile", headers)
    end
  end
  n = #reqs
  assert(n > 0, "no credentials in " .. file)
end

function request()
  i = i % n + 1
  return reqs[i]
end
