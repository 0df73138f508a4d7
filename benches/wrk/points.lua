-- wrk script: /api/v1/points, city-sized map viewports at zoom 12: a box 0.15° wide and 0.1° high
-- around one of 20 cities of the synthetic data, its centre moved by up to ±0.02° so that
-- requests differ. Fixed seed: every run asks for the same boxes (run wrk with -t1).
math.randomseed(20240602)

local cities = { -- { lat, lon }
  { 45.4642, 9.19 },    -- Milan
  { 52.52, 13.405 },    -- Berlin
  { 40.4168, -3.7038 }, -- Madrid
  { 48.8566, 2.3522 },  -- Paris
  { 41.9028, 12.4964 }, -- Rome
  { 48.2082, 16.3738 }, -- Vienna
  { 52.2297, 21.0122 }, -- Warsaw
  { 42.6977, 23.3219 }, -- Sofia
  { 37.9838, 23.7275 }, -- Athens
  { 50.8503, 4.3517 },  -- Brussels
  { 38.7223, -9.1393 }, -- Lisbon
  { 53.3498, -6.2603 }, -- Dublin
  { 47.4979, 19.0402 }, -- Budapest
  { 50.0755, 14.4378 }, -- Prague
  { 45.815, 15.9819 },  -- Zagreb
  { 46.0569, 14.5058 }, -- Ljubljana
  { 44.4268, 26.1025 }, -- Bucharest
  { 52.3676, 4.9041 },  -- Amsterdam
  { 41.3874, 2.1686 },  -- Barcelona
  { 48.1351, 11.582 },  -- Munich
}

function request()
  local c = cities[math.random(#cities)]
  local lat = c[1] + 0.04 * (math.random() - 0.5)
  local lon = c[2] + 0.04 * (math.random() - 0.5)
  local bbox = string.format("%.5f,%.5f,%.5f,%.5f", lon - 0.075, lat - 0.05, lon + 0.075, lat + 0.05)
  return wrk.format("GET", "/api/v1/points?bbox=" .. bbox .. "&zoom=12")
end
