-- POST {"currentCount": 4} to the URL's path: the stateless counter.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done
wrk.method = "POST"
wrk.body = '{"currentCount": 4}'
wrk.headers["Content-Type"] = "application/json"
