-- pgbench script: the 10 public desks nearest to a random point (uniform in lon -10..30,
-- lat 36..60, like benches/wrk/nearest.lua), by the GIST index's KNN order (<->).
-- pgbench's random() is integer-only: draw in 1e-5 degrees and divide in SQL.
\set lat random(3600000, 6000000)
\set lon random(-1000000, 3000000)
SELECT id, ST_Distance(geog, p) FROM desks, (SELECT ST_SetSRID(ST_MakePoint(:lon / 100000.0, :lat / 100000.0), 4326)::geography AS p) q WHERE audience = 'public' ORDER BY geog <-> p LIMIT 10;
