-- wrk script: /api/v1/search, limit=10, with real search phrases in several languages (UTF-8,
-- percent-encoded); one request in three also gives a position near a city (ranked by relevance
-- and distance). Fixed seed: every run sends the same sequence (run wrk with -t1).
math.randomseed(20240603)

local phrases = {
  "lavoro", "permesso di soggiorno", "ricongiungimento familiare", "corso di italiano",
  "regroupement familial", "titre de séjour", "logement", "droit du travail",
  "housing", "asylum", "work permit", "legal aid", "family reunification", "health",
  "Arbeit", "Aufenthaltserlaubnis", "Familiennachzug", "Deutschkurs",
  "permiso de residencia", "reagrupación familiar", "trabajo",
  "permis de ședere", "loc de muncă",
  "لم شمل الأسرة", "تصريح الإقامة", "عمل",
  "житло", "робота", "sağlık", "oturma izni", "praca",
}

local cities = { -- { lat, lon }: Milan, Berlin, Paris, Madrid, Vienna, Warsaw, Athens, Bucharest
  { 45.4642, 9.19 }, { 52.52, 13.405 }, { 48.8566, 2.3522 }, { 40.4168, -3.7038 },
  { 48.2082, 16.3738 }, { 52.2297, 21.0122 }, { 37.9838, 23.7275 }, { 44.4268, 26.1025 },
}

-- Percent-encodes every byte but the unreserved ones (RFC 3986), so UTF-8 is encoded bytewise.
local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", string.byte(ch)) end))
end

function request()
  local path = "/api/v1/search?q=" .. urlencode(phrases[math.random(#phrases)]) .. "&limit=10"
  if math.random(3) == 1 then
    local c = cities[math.random(#cities)]
    path = path .. string.format("&lat=%.4f&lon=%.4f", c[1], c[2])
  end
  return wrk.format("GET", path)
end
