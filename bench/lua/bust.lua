-- One page with a new query parameter per request: ?v=<tag>-<n> (or &v=),
-- never twice from a cache; or, with a third argument, that parameter instead
-- of v (fbclid: a story opened from a social network's share, new per click).
-- wrk ... -s script.lua URL -- <path> <tag> [<parameter>]
local path = "/"
local tag = "run"
local parameter = "v"
local counter = 0

init = function(args)
  path = args[1]
  tag = args[2] or tag
  parameter = args[3] or parameter
end

request = function()
  counter = counter + 1
  local sep = string.find(path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, path .. sep .. parameter .. "=" .. tag .. "-" .. counter)
end
