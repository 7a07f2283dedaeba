-- POST with no body to the URL's path (a named counter increment): a static request.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done
wrk.method = "POST"
