-- wrk script: /api/v1/nearest, k=10, at random points uniform in lon -10..30, lat 36..60
-- (sea and empty land included). The fixed seed gives every run the same sequence of points
-- (run wrk with -t1: each thread has its own Lua state and would repeat the sequence).
math.randomseed(20240601)

-- Extra query parameters; nearest_lang.lua sets "&lang=ti".
local filter = ""

function request()
  local lon = -10 + 40 * math.random()
  local lat = 36 + 24 * math.random()
  return wrk.format("GET", string.format("/api/v1/nearest?lat=%.5f&lon=%.5f&k=10%s", lat, lon, filter))
end
