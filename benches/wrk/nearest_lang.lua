-- wrk script: /api/v1/nearest, k=10, lang=ti (Tigrinya: spoken at 1 in 16 desks, the selective
-- filter), at the same random points as nearest.lua (uniform in lon -10..30, lat 36..60, same seed).
math.randomseed(20240601)

local filter = "&lang=ti"

function request()
  local lon = -10 + 40 * math.random()
  local lat = 36 + 24 * math.random()
  return wrk.format("GET", string.format("/api/v1/nearest?lat=%.5f&lon=%.5f&k=10%s", lat, lon, filter))
end
