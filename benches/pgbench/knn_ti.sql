-- pgbench script: as knn.sql, but only desks that speak Tigrinya ('ti', 1 in 16 desks), like
-- benches/wrk/nearest_lang.lua.
\set lat random(3600000, 6000000)
\set lon random(-1000000, 3000000)
SELECT id, ST_Distance(geog, p) FROM desks, (SELECT ST_SetSRID(ST_MakePoint(:lon / 100000.0, :lat / 100000.0), 4326)::geography AS p) q WHERE audience = 'public' AND 'ti' = ANY(langs) ORDER BY geog <-> p LIMIT 10;
