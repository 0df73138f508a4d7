"""Writes a one-network IP database in DB-IP's "city ipv4" layout (as ip-location-db publishes
it: flat city, country_code, latitude, longitude…), for tests/browser/widget.mjs: the widget must
show DB-IP's attribution when its position came from DB-IP. Uses PyPI's mmdb-writer (installed in
target/pytools by scripts/test). Usage: python3 dbip.py OUT_DIR  (writes OUT_DIR/dbip-city-ipv4.mmdb)
"""
import os
import sys

from mmdb_writer import MMDBWriter, MmdbF32
from netaddr import IPSet

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
w = MMDBWriter(ip_version=4, database_type="city ipv4", description="sportello browser test")
# Vigevano, south-west of Milan: a public address range the test sends as the forwarded client.
w.insert_network(IPSet(["151.38.39.0/24"]), {
    "city": "Vigevano", "country_code": "IT", "state1": "", "postcode": "", "timezone": "",
    "latitude": MmdbF32(45.3141), "longitude": MmdbF32(8.85437),
})
w.to_db_file(os.path.join(out, "dbip-city-ipv4.mmdb"))
