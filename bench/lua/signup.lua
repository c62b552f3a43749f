-- The newsletter signup POST with a valid CSRF cookie and token, and a new
-- address per request. wrk ... -s script.lua URL -- <path> <csrf cookie>
-- <csrf form token> <tag>
local path = "/newsletter/subscribe/"
local token = ""
local tag = "run"
local counter = 0

init = function(args)
  path = args[1]
  wrk.headers["Cookie"] = "csrftoken=" .. args[2]
  token = args[3]
  tag = args[4] or tag
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

request = function()
  counter = counter + 1
  local body = "csrfmiddlewaretoken=" .. token ..
    "&email=bench-signup-" .. tag .. "-" .. counter .. "%40example.org" ..
    "&source=bench&website="
  return wrk.format("POST", path, nil, body)
end
