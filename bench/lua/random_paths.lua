-- A path chosen at random per request from a file of paths (one a line).
-- wrk ... -s script.lua URL -- <paths file> <bust: yes|no> <tag>
-- With bust=yes every request also gets a unique ?v=<tag>-<n>, so that
-- no two requests can share a cached page.
local paths = {}
local bust = false
local tag = "run"
local counter = 0

init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  bust = args[2] == "yes"
  tag = args[3] or tag
  math.randomseed(os.time() + #paths)
end

request = function()
  local path = paths[math.random(#paths)]
  if bust then
    counter = counter + 1
    local sep = string.find(path, "?", 1, true) and "&" or "?"
    path = path .. sep .. "v=" .. tag .. "-" .. counter
  end
  return wrk.format(nil, path)
end
