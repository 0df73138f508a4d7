#!/usr/bin/env python3
"""Answer sizes of sportello's endpoints: uncompressed, as sent to a browser's Accept-Encoding,
and gzip level 6 of the same body (the size target's yardstick). Used by benches/load.sh.

Usage: sizes.py BASE_URL [SAMPLES]  (prints one table row per endpoint; exit 1 on a non-2xx
answer, an encoding the request did not ask for, or a body that does not decompress to the
uncompressed answer)."""
import gzip
import random
import statistics
import sys
import urllib.parse
import urllib.request
import zlib

BROWSER_AE = "gzip, deflate, br, zstd"
CITIES = [(45.4642, 9.19), (52.52, 13.405), (40.4168, -3.7038), (48.8566, 2.3522), (41.9028, 12.4964),
          (48.2082, 16.3738), (52.2297, 21.0122), (42.6977, 23.3219), (37.9838, 23.7275), (50.8503, 4.3517)]
PHRASES = ["lavoro", "permesso di soggiorno", "regroupement familial", "housing", "asylum", "Arbeit",
           "trabajo", "لم شمل الأسرة", "житло", "sağlık"]


def urls(kind, n, rng):
    for _ in range(n):
        if kind in ("nearest", "nearest_lang"):
            lat, lon = 36 + 24 * rng.random(), -10 + 40 * rng.random()
            extra = "&lang=ti" if kind == "nearest_lang" else ""
            yield f"/api/v1/nearest?lat={lat:.5f}&lon={lon:.5f}&k=10{extra}"
        elif kind == "points":
            lat, lon = rng.choice(CITIES)
            lat += 0.04 * (rng.random() - 0.5)
            lon += 0.04 * (rng.random() - 0.5)
            yield f"/api/v1/points?bbox={lon - 0.075:.5f},{lat - 0.05:.5f},{lon + 0.075:.5f},{lat + 0.05:.5f}&zoom=12"
        elif kind == "search":
            q = urllib.parse.quote(rng.choice(PHRASES))
            yield f"/api/v1/search?q={q}&limit=10"
        else:
            yield "/healthz"


def get(url, ae):
    req = urllib.request.Request(url, headers={"Accept-Encoding": ae} if ae else {"Accept-Encoding": "identity"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers.get("Content-Encoding", "identity"), r.read()


def main():
    base = sys.argv[1]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    rng = random.Random(20240610)
    bad = 0
    print(f"{'endpoint':12} | {'body B':>8} | {'sent B':>8} | {'gzip -6 B':>9} | {'sent/gzip6':>10} | encodings sent")
    print("-------------|----------|----------|-----------|------------|---------------")
    for kind in ("baseline", "nearest", "nearest_lang", "points", "search"):
        plain, sent, g6, encs = [], [], [], {}
        for path in urls(kind, samples, rng):
            status, enc, body = get(base + path, None)
            status2, enc2, wire = get(base + path, BROWSER_AE)
            if status // 100 != 2 or status2 // 100 != 2:
                print(f"FAILED: {path} answered {status} / {status2}", file=sys.stderr)
                bad = 1
                continue
            if enc != "identity" or enc2 not in ("identity", "gzip", "deflate", "br", "zstd"):
                print(f"FAILED: {path}: encoding {enc!r} / {enc2!r} was not asked for", file=sys.stderr)
                bad = 1
            decoded = {"gzip": lambda b: gzip.decompress(b), "deflate": lambda b: zlib.decompress(b),
                       "identity": lambda b: b}.get(enc2)
            if decoded is not None and decoded(wire) != body:
                print(f"FAILED: {path}: the {enc2} answer does not decompress to the uncompressed one", file=sys.stderr)
                bad = 1
            encs[enc2] = encs.get(enc2, 0) + 1
            plain.append(len(body))
            sent.append(len(wire))
            g6.append(len(gzip.compress(body, 6, mtime=0)))
        if not plain:
            continue
        ratio = statistics.median(s / g for s, g in zip(sent, g6))
        enc_list = ", ".join(f"{e} {n}" for e, n in sorted(encs.items()))
        print(f"{kind:12} | {statistics.median(plain):8.0f} | {statistics.median(sent):8.0f} | "
              f"{statistics.median(g6):9.0f} | {ratio:10.3f} | {enc_list}")
    print(f"(medians over {samples} requests per endpoint; sent = the answer to Accept-Encoding: {BROWSER_AE};")
    print(" sent/gzip6 = the median of each answer's sent size over gzip level 6 of its uncompressed body)")
    sys.exit(bad)


if __name__ == "__main__":
    main()
