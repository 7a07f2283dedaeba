-- GET the URL's path: a static request, no Lua per request.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done
