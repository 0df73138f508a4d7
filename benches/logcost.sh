#!/usr/bin/env bash
# What the access log costs: the cheapest routes' throughput with the access log on (`RUST_LOG=info`,
# the default, one line per request written to a file, as a log collector would receive it) and
# off (`RUST_LOG=warn`), in interleaved rounds (info, warn, info, warn, …) so drift of the machine
# hits both alike. Prints each round and the median ratio info ÷ warn per route.
# Server pinned to core 0 (every thread: it is started under taskset), wrk to core 1.
# See benches/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh

ROUNDS=5 DURATION=5 CONNS=32 FORMAT=text
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --connections) CONNS=${2:?}; shift 2 ;;
    --log-format) FORMAT=${2:?}; shift 2 ;;
    -h | --help)
      echo "Usage: benches/logcost.sh [--rounds R (5)] [--duration S (5)] [--connections C (32)] [--log-format text|json]"
      exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done

ensure_wrk
ensure_curl
build_release
setup_pinning
mkdir -p "$DATA_DIR"
ROUTES=(/healthz /api/v1/domains)
LOGFILE="$DATA_DIR/logcost-server.log"
trap stop_server EXIT

# run LEVEL: starts the server on the embedded dataset at RUST_LOG=LEVEL, measures every route,
# appends "level route rps non2xx" lines to $OUT, stops the server.
run() {
  local level=$1 port route out
  port=$(free_port 18180)
  SERVER_URL="http://127.0.0.1:$port"
  : >"$LOGFILE"
  RUST_LOG=$level "${SERVER_PIN[@]}" "$BIN" --log-format "$FORMAT" serve --listen "127.0.0.1:$port" --rate-limit 0 2>>"$LOGFILE" &
  SERVER_PID=$!
  wait_ready "$SERVER_URL/readyz" 60
  for route in "${ROUTES[@]}"; do
    local t0 t1 rps non2xx reqs
    t0=$(tree_ticks "$SERVER_PID")
    out=$("${CLIENT_PIN[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$SERVER_URL$route")
    t1=$(tree_ticks "$SERVER_PID")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
    # The server's CPU time per request (µs): less disturbed by other work on the machine than
    # the request rate, since time spent waiting for a core is not counted.
    printf '%s %s %s %s %s\n' "$level" "$route" "$rps" "${non2xx:-0}" \
      "$(awk -v t=$((t1 - t0)) -v n="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", t / hz / n * 1e6 }')" >>"$OUT"
  done
  stop_server
  printf '%s: %s log lines written\n' "$level" "$(wc -l <"$LOGFILE")" >&2
}

OUT="$DATA_DIR/logcost-results.txt"
: >"$OUT"
machine_line
for ((r = 1; r <= ROUNDS; r++)); do
  run info
  run warn
done

# Per round and route, the ratios info ÷ warn of throughput and of CPU per request; then medians.
python3 - "$OUT" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
bad = [r for r in rows if r[3] != "0"]
if bad:
    sys.exit(f"non-2xx answers: {bad}")
by = {}
for level, route, rps, _, cpu in rows:
    d = by.setdefault(route, {}).setdefault(level, {"rps": [], "cpu": []})
    d["rps"].append(float(rps))
    d["cpu"].append(float(cpu))
med = statistics.median
for route, v in by.items():
    i, w = v["info"], v["warn"]
    tput = [a / b for a, b in zip(i["rps"], w["rps"])]
    cpu = [a / b for a, b in zip(i["cpu"], w["cpu"])]
    print(f"{route}: req/s info {med(i['rps']):,.0f}, warn {med(w['rps']):,.0f}; "
          f"throughput info/warn per round {' '.join(f'{x:.3f}' for x in tput)}, median {med(tput):.3f}")
    print(f"{' ' * len(route)}  server CPU per request info {med(i['cpu']):.2f} µs, warn {med(w['cpu']):.2f} µs; "
          f"info/warn per round {' '.join(f'{x:.3f}' for x in cpu)}, median {med(cpu):.3f}")
PY
