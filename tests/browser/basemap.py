"""Writes three small PMTiles v3 base maps of central Milan for tests/browser/widget.mjs, so the
widget's drawing of an operator's map (`serve --basemap`) is tested on files the project makes:

- protomaps.pmtiles: vector tiles in the Protomaps basemap schema (earth, water, roads, places),
  as `pmtiles extract` cuts from a Protomaps build;
- openmaptiles.pmtiles: vector tiles in the OpenMapTiles schema (water, landcover,
  transportation, place), as Planetiler writes by default;
- raster.pmtiles: PNG tiles of one colour.

Each vector map holds a square "lake" around the demo page's centre (45.4642 N, 9.19 E), so a
test can read the colour the widget painted there. The attribution carries a link and markup
that must not run (an <img onerror>), to test that the widget shows only text and links.
Tiles are encoded by PyPI's mapbox-vector-tile and packed by PyPI's pmtiles writer (both in
target/pytools, installed by scripts/test). Usage: python3 basemap.py OUT_DIR
"""
import gzip
import json
import math
import os
import struct
import sys
import zlib

import mapbox_vector_tile
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

WEST, SOUTH, EAST, NORTH = 9.05, 45.40, 9.35, 45.55
CENTRE = (9.19, 45.4642)
LAKE = 0.02  # half the lake's side, in degrees
MAXZOOM = 13
EXTENT = 4096
ATTRIBUTION = ('<a href="https://www.openstreetmap.org/copyright">© OpenStreetMap</a> '
               '<img src="x" onerror="window.sportelloPwned=1">test map <script>window.sportelloPwned=2</script>')


def tile_xy(lon, lat, z):
    """Fractional tile coordinates (x right, y down) of a WGS84 position at zoom z."""
    n = 2 ** z
    s = math.sin(math.radians(lat))
    return (lon + 180) / 360 * n, (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n


def tiles_of(z):
    x0, y0 = tile_xy(WEST, NORTH, z)
    x1, y1 = tile_xy(EAST, SOUTH, z)
    for x in range(int(x0), int(x1) + 1):
        for y in range(int(y0), int(y1) + 1):
            yield x, y


def ring_wkt(points):
    return "(" + ", ".join(f"{x:.2f} {y:.2f}" for x, y in points + points[:1]) + ")"


def vector_tile(z, x, y, schema):
    def px(lon, lat):
        tx, ty = tile_xy(lon, lat, z)
        return (tx - x) * EXTENT, (ty - y) * EXTENT

    whole = [(-64, -64), (EXTENT + 64, -64), (EXTENT + 64, EXTENT + 64), (-64, EXTENT + 64)]
    (lx0, ly0), (lx1, ly1) = px(CENTRE[0] - LAKE, CENTRE[1] + LAKE), px(CENTRE[0] + LAKE, CENTRE[1] - LAKE)
    lake = f"POLYGON ({ring_wkt([(lx0, ly0), (lx1, ly0), (lx1, ly1), (lx0, ly1)])})"
    road_a = "LINESTRING (" + ", ".join(f"{a:.2f} {b:.2f}" for a, b in (px(WEST, 45.48), px(EAST, 45.48))) + ")"
    road_b = "LINESTRING (" + ", ".join(f"{a:.2f} {b:.2f}" for a, b in (px(9.15, SOUTH), px(9.15, NORTH))) + ")"
    # The town's name is written north-west of the lake, not over the pixels a test reads.
    cx, cy = px(9.12, 45.52)
    town = f"POINT ({cx:.2f} {cy:.2f})"
    names = {"name": "Milano", "name:en": "Milan", "name:ar": "ميلانو"}
    if schema == "protomaps":
        layers = [
            {"name": "earth", "features": [{"geometry": f"POLYGON ({ring_wkt(whole)})", "properties": {"kind": "earth"}}]},
            {"name": "water", "features": [{"geometry": lake, "properties": {"kind": "lake"}}]},
            {"name": "roads", "features": [
                {"geometry": road_a, "properties": {"kind": "major_road", "kind_detail": "primary", "name": "Viale Test"}},
                {"geometry": road_b, "properties": {"kind": "minor_road", "kind_detail": "residential", "name": "Via Prova"}},
            ]},
            {"name": "places", "features": [{"geometry": town, "properties": {"kind": "locality", "min_zoom": 2, "population_rank": 14, **names}}]},
        ]
    else:
        layers = [
            {"name": "landcover", "features": [{"geometry": f"POLYGON ({ring_wkt(whole)})", "properties": {"class": "grass"}}]},
            {"name": "water", "features": [{"geometry": lake, "properties": {"class": "lake"}}]},
            {"name": "transportation", "features": [
                {"geometry": road_a, "properties": {"class": "primary"}},
                {"geometry": road_b, "properties": {"class": "minor"}},
            ]},
            {"name": "place", "features": [{"geometry": town, "properties": {"class": "city", **names}}]},
        ]
    return mapbox_vector_tile.encode(layers, default_options={"extents": EXTENT, "y_coord_down": True})


def png(rgb, size=256):
    """A PNG of one colour (zlib and struct: a PNG needs no more)."""
    row = b"\x00" + bytes(rgb) * size
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b""))


def write(path, tile_type, tiles, layers):
    with open(path, "wb") as f:
        w = Writer(f)
        for tileid in sorted(tiles):
            w.write_tile(tileid, tiles[tileid])
        header = {
            "tile_type": tile_type,
            "tile_compression": Compression.GZIP if tile_type == TileType.MVT else Compression.NONE,
            "min_lon_e7": int(WEST * 1e7), "min_lat_e7": int(SOUTH * 1e7),
            "max_lon_e7": int(EAST * 1e7), "max_lat_e7": int(NORTH * 1e7),
            "center_zoom": 12, "center_lon_e7": int(CENTRE[0] * 1e7), "center_lat_e7": int(CENTRE[1] * 1e7),
        }
        metadata = {"attribution": ATTRIBUTION, "name": "sportello browser test"}
        if layers:
            metadata["vector_layers"] = [{"id": l, "fields": {}} for l in layers]
        w.finalize(header, metadata)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for schema, layers in (("protomaps", ["earth", "water", "roads", "places"]),
                           ("openmaptiles", ["landcover", "water", "transportation", "place"])):
        tiles = {zxy_to_tileid(z, x, y): gzip.compress(vector_tile(z, x, y, schema), mtime=0)
                 for z in range(0, MAXZOOM + 1) for x, y in tiles_of(z)}
        write(os.path.join(out, f"{schema}.pmtiles"), TileType.MVT, tiles, layers)
    teal = png((0x3D, 0x99, 0x70))
    tiles = {zxy_to_tileid(z, x, y): teal for z in range(0, MAXZOOM + 1) for x, y in tiles_of(z)}
    write(os.path.join(out, "raster.pmtiles"), TileType.PNG, tiles, None)
    print(f"basemap.py: protomaps, openmaptiles and raster PMTiles in {out}")


if __name__ == "__main__":
    main()
