#!/usr/bin/env python3
"""Streams sportello's one-feature-per-line GeoJSON (the output of `sportello synth`, or a
bundle's points.geojson) to CSV rows for PostgreSQL's COPY ... (FORMAT csv):

    id, geog (EWKT "SRID=4326;POINT(lon lat)"), langs (text[] literal), domains (text[]), audience

Usage: geojson_to_csv.py FILE.geojson > desks.csv   (or piped straight into psql's \\copy)

Reads one line at a time, so a million desks need no more memory than one.
"""
import csv
import json
import sys


def pg_array(items):
    """A PostgreSQL array literal, every element quoted (codes are plain, but be safe)."""
    quoted = ('"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"' for s in items)
    return "{" + ",".join(quoted) + "}"


def main(path):
    out = csv.writer(sys.stdout, lineterminator="\n")
    rows = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip().rstrip(",")
            # The first line opens the FeatureCollection, the last one closes it.
            if not line.startswith('{"type":"Feature"') or line.startswith('{"type":"FeatureCollection"'):
                continue
            try:
                feature = json.loads(line)
                lon, lat = feature["geometry"]["coordinates"][:2]
                props = feature["properties"]
                out.writerow([
                    feature["id"],
                    f"SRID=4326;POINT({lon!r} {lat!r})",
                    pg_array(props["languages"]),
                    pg_array(props["domains"]),
                    props["audience"],
                ])
            except (ValueError, KeyError, TypeError) as e:
                sys.exit(f"{path}:{lineno}: not a desk feature: {e}")
            rows += 1
    if rows == 0:
        sys.exit(f"{path}: no features found (expected one feature per line)")
    print(f"geojson_to_csv: {rows} desks", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
