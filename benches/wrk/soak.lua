-- wrk script for benches/soak.sh. SOAK_KIND names the requests: `nearest`, `points`, `search` or
-- `tiles` (the scripts of those names), or `mix` (each request drawn from them with the weights
-- in SOAK_WEIGHTS, e.g. "nearest=40,points=30,search=15,tiles=15"). SOAK_DELAY_MS > 0 makes each
-- connection wait that long after every answer: C connections then send about C * 1000 / delay
-- requests per second, the fixed rate of the soak.
local kind = os.getenv("SOAK_KIND") or "mix"
local delay_ms = tonumber(os.getenv("SOAK_DELAY_MS") or "0")

local function load(name)
  dofile("benches/wrk/" .. name .. ".lua")
  return request
end

if kind == "mix" then
  local pick = {}
  local total = 0
  for name, w in string.gmatch(os.getenv("SOAK_WEIGHTS") or "nearest=1", "(%a+)=(%d+)") do
    total = total + tonumber(w)
    table.insert(pick, { upto = total, request = load(name) })
  end
  math.randomseed(20240605)
  function request()
    local r = math.random() * total
    for _, p in ipairs(pick) do
      if r < p.upto then return p.request() end
    end
    return pick[#pick].request()
  end
else
  request = load(kind)
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
