-- wrk script: /tiles/{z}/{x}/{y}.EXT, the tiles of city centres at zooms 6 to 12 (the map
-- widget's usual range), EXT from the environment (SOAK_TILE_EXT, default geojson). Fixed seed:
-- every run asks for the same tiles (run wrk with -t1).
math.randomseed(20240604)

local ext = os.getenv("SOAK_TILE_EXT") or "geojson"

local cities = { -- { lat, lon }: Milan, Berlin, Paris, Madrid, Rome, Athens, Sofia, Ljubljana, Brussels, Warsaw
  { 45.4642, 9.19 }, { 52.52, 13.405 }, { 48.8566, 2.3522 }, { 40.4168, -3.7038 }, { 41.9028, 12.4964 },
  { 37.9838, 23.7275 }, { 42.6977, 23.3219 }, { 46.0569, 14.5058 }, { 50.8503, 4.3517 }, { 52.2297, 21.0122 },
}

-- The Web-Mercator tile holding a point (lat, lon in degrees) at zoom z.
local function tile(lat, lon, z)
  local n = 2 ^ z
  local r = math.rad(lat)
  local x = math.floor((lon + 180) / 360 * n)
  local y = math.floor((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
  return x, y
end

function request()
  local c = cities[math.random(#cities)]
  local z = math.random(6, 12)
  -- Around the centre, so that neighbouring tiles are asked for too.
  local x, y = tile(c[1] + 0.2 * (math.random() - 0.5), c[2] + 0.3 * (math.random() - 0.5), z)
  return wrk.format("GET", string.format("/tiles/%d/%d/%d.%s", z, x, y, ext))
end
