-- One page, never twice from a cache: ?v=<tag>-<n> (or &v=) per request.
-- wrk ... -s script.lua URL -- <path> <tag>
local path = "/"
local tag = "run"
local counter = 0

init = function(args)
  path = args[1]
  tag = args[2] or tag
end

request = function()
  counter = counter + 1
  local sep = string.find(path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, path .. sep .. "v=" .. tag .. "-" .. counter)
end
