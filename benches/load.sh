#!/usr/bin/env bash
# HTTP load benchmark of sportello: maximum throughput of each endpoint with wrk (interleaved
# rounds, so drift of the machine hits every endpoint alike), then the p99 latency of `nearest`
# at a fixed rate (half its maximum) with oha, corrected for coordinated omission, and of
# `/healthz` at the same rate (the floor of that measurement).
# See benches/README.md for what it prints and why.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh

ENDPOINTS=(baseline nearest nearest_lang points search)
# Every endpoint is measured twice per round: as wrk sends it (no Accept-Encoding: uncompressed)
# and with what a browser sends (row "NAME +AE"), each compared with /healthz sent the same way.
BROWSER_AE="gzip, deflate, br, zstd"
MODES=(plain ae)
RESULTS_FILE="$DATA_DIR/load-results.txt"
OHA="$TOOLS_DIR/bin/oha"

usage() {
  cat <<'EOF'
Usage: benches/load.sh [--count N] [--seed S] [--duration SECONDS] [--rounds R]
                       [--connections C] [--quick]
  --count N        synthetic desks (default 1000000)
  --seed S         synth seed (default 1)
  --duration D     seconds per wrk run, and of the fixed-rate run (default 10)
  --rounds R       interleaved rounds over all endpoints (default 3)
  --connections C  concurrent connections (default 32)
  --quick          smoke test: count 2000, duration 1, 1 round, no fixed-rate run; fails if any
                   endpoint answered non-2xx or served 0 req/s
EOF
}

parse_args() {
  COUNT='' SEED=1 DURATION='' ROUNDS='' CONNS=32 QUICK=0
  while [[ $# -gt 0 ]]; do
    case $1 in
      --count) COUNT=${2:?--count needs a value}; shift 2 ;;
      --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
      --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
      --rounds) ROUNDS=${2:?--rounds needs a value}; shift 2 ;;
      --connections) CONNS=${2:?--connections needs a value}; shift 2 ;;
      --quick) QUICK=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  # --quick gives small defaults; values given explicitly still win.
  if [[ $QUICK -eq 1 ]]; then
    COUNT=${COUNT:-2000} DURATION=${DURATION:-1} ROUNDS=${ROUNDS:-1}
  else
    COUNT=${COUNT:-1000000} DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3}
  fi
  local v
  for v in "$COUNT" "$SEED" "$DURATION" "$ROUNDS" "$CONNS"; do
    [[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || die "options take positive integers, got '$v'"
  done
}

ensure_oha() {
  [[ -x $OHA ]] && return
  log "cargo install oha --locked --root $TOOLS_DIR (a few minutes, once)"
  cargo install oha --locked --root "$TOOLS_DIR" >&2 || die "cargo install oha failed: cannot run the fixed-rate test"
  [[ -x $OHA ]] || die "oha is still missing at $OHA after cargo install"
}

ensure_python() {
  command -v python3 >/dev/null 2>&1 || apt_install python3
}

cleanup() {
  stop_client
  stop_server
}

# The table's row key of endpoint EP in mode MODE.
row_key() { if [[ $2 == ae ]]; then echo "$1 +AE"; else echo "$1"; fi; }
ROW_KEYS=()
for mode in "${MODES[@]}"; do for e in "${ENDPOINTS[@]}"; do ROW_KEYS+=("$(row_key "$e" "$mode")"); done; done

# One wrk run per endpoint and mode per round, in the order A B C D E A' B' C' D' E' A B …;
# records req/s, p99, the ratio to the same round's baseline in the same mode, non-2xx answers
# and socket errors.
declare -A RPS P99 RATIOS NON2XX SOCKERR WRK_CMDS SCPU OCPU USREQ CPURATIOS
run_rounds() {
  local round ep e mode base_rps=0 base_us=0 us
  local -a extra
  for ((round = 1; round <= ROUNDS; round++)); do
    for mode in "${MODES[@]}"; do
    extra=()
    [[ $mode == ae ]] && extra=(-H "Accept-Encoding: $BROWSER_AE")
    for e in "${ENDPOINTS[@]}"; do
      ep=$(row_key "$e" "$mode")
      run_wrk "$e" "$DURATION" "$CONNS" "$DATA_DIR/wrk-$e-$mode-round$round.txt" "${extra[@]}"
      [[ $e == baseline ]] && base_rps=$WRK_RPS
      # The server's CPU time per answer (µs): steadier than req/s when other processes take
      # CPU, since time spent waiting for a core is not counted.
      us=$(awk -v c="$SERVER_CPU" -v r="$WRK_RPS" 'BEGIN { if (r + 0 == 0) print "nan"; else printf "%.2f\n", c * 1e4 / r }')
      [[ $e == baseline ]] && base_us=$us
      USREQ[$ep]+="$us "
      CPURATIOS[$ep]+="$(ratio "$base_us" "$us") "
      RPS[$ep]+="$WRK_RPS "
      P99[$ep]+="$WRK_P99_MS "
      RATIOS[$ep]+="$(ratio "$WRK_RPS" "$base_rps") "
      NON2XX[$ep]=$((${NON2XX[$ep]:-0} + WRK_NON2XX))
      SOCKERR[$ep]=$((${SOCKERR[$ep]:-0} + WRK_SOCKET_ERRORS))
      SCPU[$ep]+="$SERVER_CPU "
      OCPU[$ep]+="$OTHER_CPU "
      WRK_CMDS[$ep]=$WRK_CMD
      log "round $round/$ROUNDS $ep: $WRK_RPS req/s, p99 $WRK_P99_MS ms, non-2xx $WRK_NON2XX," \
        "socket errors $WRK_SOCKET_ERRORS, server CPU $SERVER_CPU%, other CPU $OTHER_CPU%"
    done
    done
  done
}

# The throughput table; medians are over rounds. CPU in % of one core: the server's (below ~90%
# at max rate, the server was not the bottleneck) and other processes' (the worst round).
print_table() {
  local ep
  printf '%-16s | %-24s | %8s | %8s | %8s | %6s | %6s | %8s | %8s | %s\n' endpoint "req/s per round" "median" \
    "ratio to" "p99 (ms)" "server" "other" "server" "CPU" "non-2xx /"
  printf '%-16s | %-24s | %8s | %8s | %8s | %6s | %6s | %8s | %8s | %s\n' "" "" "req/s" "baseline" "median" "CPU %" "CPU %" \
    "µs/req" "ratio" "socket errors"
  printf '%s\n' "-----------------|--------------------------|----------|----------|----------|--------|--------|----------|----------|--------------"
  for ep in "${ROW_KEYS[@]}"; do
    # shellcheck disable=SC2086 # word splitting of the per-round lists is intended
    printf '%-16s | %-24s | %8.0f | %8.3f | %8.3f | %6.0f | %6.0f | %8.2f | %8.3f | %s / %s\n' "$ep" "$(fmt_int ${RPS[$ep]})" \
      "$(median ${RPS[$ep]})" "$(median ${RATIOS[$ep]})" "$(median ${P99[$ep]})" "$(median ${SCPU[$ep]})" \
      "$(max ${OCPU[$ep]})" "$(median ${USREQ[$ep]})" "$(median ${CPURATIOS[$ep]})" "${NON2XX[$ep]}" "${SOCKERR[$ep]}"
  done
  echo "(+AE: requests carry Accept-Encoding: $BROWSER_AE, compared with baseline +AE;"
  echo " ratio: median over rounds of req/s / the same round's baseline req/s; CPU in % of one core:"
  echo " server = sportello's own use, other = processes other than sportello and wrk, worst round;"
  echo " server µs/req = the server's CPU time per answer, median over rounds; CPU ratio = baseline's"
  echo " µs/req / the endpoint's in the same round: the throughput ratio a quiet, saturated core would give)"
}

# A warning line when other processes took a noticeable share of the CPU during some run.
disturbance_note() {
  local worst
  # shellcheck disable=SC2048,SC2086 # each element is a space-separated list of numbers
  worst=$(max ${OCPU[*]} "$FIXED_OTHER_CPU")
  if [[ $worst -gt 10 ]]; then
    echo "WARNING: other processes used up to ${worst}% of a core during the runs: these numbers are disturbed;"
    echo "         rerun on a quiet machine (nothing compiling or testing) before comparing them."
  fi
}

# Fixed-rate latency of nearest: oha at half the measured maximum, every request timed from when
# it should have been sent (--latency-correction), so a stall cannot hide its queue. Then /healthz
# at the same rate: the floor of this measurement (client, kernel, HTTP), which tells how much of
# nearest's p99 is the query's own.
FIXED_LINES=()
OHA_CMDS=()
FIXED_OTHER_CPU=0
run_fixed_rate() {
  local max rate urls
  # shellcheck disable=SC2086
  max=$(median ${RPS[nearest]})
  rate=$(awk -v m="$max" 'BEGIN { printf "%d", m / 2 }')
  [[ $rate -gt 0 ]] || die "nearest served 0 req/s: no rate for the fixed-rate test"
  # The same kind of random points as wrk/nearest.lua, from a fixed seed; oha picks among them.
  urls="$DATA_DIR/nearest-urls.txt"
  awk -v base="$SERVER_URL" 'BEGIN { srand(20240601)
    for (i = 0; i < 20000; i++)
      printf "%s/api/v1/nearest?lat=%.5f&lon=%.5f&k=10\n", base, 36 + 24 * rand(), -10 + 40 * rand() }' >"$urls"
  FIXED_LINES+=("fixed rate $rate req/s (half of nearest's median max), latency corrected:")
  oha_at_rate nearest "$rate" --disable-compression --urls-from-file "$urls"
  oha_at_rate healthz "$rate" --disable-compression "$SERVER_URL/healthz"
  # The same with a browser's Accept-Encoding, at half of nearest +AE's maximum. oha sends the
  # header as given and does not decompress (--disable-compression only stops it adding its own).
  # shellcheck disable=SC2086
  max=$(median ${RPS["nearest +AE"]})
  rate=$(awk -v m="$max" 'BEGIN { printf "%d", m / 2 }')
  [[ $rate -gt 0 ]] || die "nearest +AE served 0 req/s: no rate for the fixed-rate test"
  FIXED_LINES+=("fixed rate $rate req/s (half of nearest +AE's median max), Accept-Encoding: $BROWSER_AE, latency corrected:")
  oha_at_rate nearest_ae "$rate" --disable-compression -H "Accept-Encoding: $BROWSER_AE" --urls-from-file "$urls"
  oha_at_rate healthz_ae "$rate" --disable-compression -H "Accept-Encoding: $BROWSER_AE" "$SERVER_URL/healthz"
}

# oha_at_rate NAME RATE TARGET...: oha at RATE req/s on TARGET (a URL, or --urls-from-file FILE);
# appends its summary to FIXED_LINES and its command to OHA_CMDS.
oha_at_rate() {
  local name=$1 rate=$2 json="$DATA_DIR/oha-$1.json"
  shift 2
  local -a cmd=("${CLIENT_PIN[@]}" "$OHA" --no-tui --worker-threads 1 -c "$CONNS" -z "${DURATION}s" -q "$rate"
    --latency-correction --output-format json -o "$json" "$@")
  OHA_CMDS+=("$(printf '%q ' "${cmd[@]}")")
  log "${cmd[*]}"
  measure_start "$SERVER_PID"
  run_client "$DATA_DIR/oha-$name.log" "${cmd[@]}" || die "oha failed: $(cat "$DATA_DIR/oha-$name.log")"
  measure_end
  FIXED_OTHER_CPU=$(max "$FIXED_OTHER_CPU" "$OTHER_CPU")
  FIXED_LINES+=("$(python3 - "$json" "$name" "$rate" "$SERVER_CPU" "$OTHER_CPU" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
name, rate, server_cpu, other_cpu = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
m = r["metrics"]
lat = m["latency_ms"]
codes = r.get("statusCodeDistribution", {})
bad = sum(n for c, n in codes.items() if not c.startswith("2"))
# Requests cut off by the end of the run are not failures.
errors = sum(n for e, n in r.get("errorDistribution", {}).items() if "deadline" not in e)
if name == "nearest":
    note = f"(target <= 1 ms: {'met' if lat['p99'] <= 1.0 else 'NOT met'})"
elif name == "nearest_ae":
    note = f"(target <= 2 ms: {'met' if lat['p99'] <= 2.0 else 'NOT met'})"
else:
    note = "(the floor: client, kernel and HTTP without a query)"
print(f"  {name:10} p99 {lat['p99']:.3f} ms {note}\n"
      f"           achieved {m['requests_per_sec']:.0f} req/s, p50 {lat['p50']:.3f} ms, p95 {lat['p95']:.3f} ms, "
      f"max {lat['max']:.3f} ms, non-2xx {bad}, errors {errors}, server CPU {server_cpu}%, other CPU {other_cpu}%")
if m["requests_per_sec"] < 0.95 * rate:
    print("           WARNING: oha did not reach the requested rate: the client or a busy machine limited"
          " this run, its p99 measures queueing, not the server")
EOF
  )")
}

# Fails the run when an endpoint answered errors: its numbers would measure error pages.
check_answers() {
  local ep bad=0
  for ep in "${ROW_KEYS[@]}"; do
    # shellcheck disable=SC2086
    if [[ ${NON2XX[$ep]} -gt 0 ]] || awk -v r="$(median ${RPS[$ep]})" 'BEGIN { exit !(r + 0 == 0) }'; then
      printf 'FAILED: %s answered %s non-2xx responses or served 0 req/s (see %s/wrk-%s-round*.txt)\n' \
        "$ep" "${NON2XX[$ep]}" "$DATA_DIR" "$ep" >&2
      bad=1
    fi
  done
  return "$bad"
}

main() {
  parse_args "$@"
  ensure_curl
  ensure_wrk
  ensure_python
  [[ $QUICK -eq 1 ]] || ensure_oha
  build_release
  ensure_data "$COUNT" "$SEED"
  setup_pinning
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_server "$DATA_BUNDLE"
  check_quiet "$SERVER_PID"

  run_rounds
  [[ $QUICK -eq 1 ]] || run_fixed_rate
  log "answer sizes: python3 $BENCH_DIR/sizes.py $SERVER_URL"
  SIZES_OK=0
  SIZES=$(python3 "$BENCH_DIR/sizes.py" "$SERVER_URL" 2>"$DATA_DIR/sizes.err") || SIZES_OK=1
  stop_server

  {
    echo "sportello load benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- src 2>/dev/null || echo ' (src modified)')"
    machine_line
    echo "desks: $COUNT (synth seed $SEED), bundle $DATA_BUNDLE, binary $BIN"
    echo "$PIN_NOTE; $ROUNDS round(s) of ${DURATION}s per endpoint, $CONNS connections, order: ${ROW_KEYS[*]}"
    echo
    print_table
    disturbance_note
    echo
    if [[ ${#FIXED_LINES[@]} -gt 0 ]]; then printf '%s\n' "${FIXED_LINES[@]}" ""; fi
    echo "answer sizes (target: sent within 15 % of gzip -6, i.e. sent/gzip6 <= 1.15):"
    echo "$SIZES"
    [[ $SIZES_OK -eq 0 ]] || { echo "FAILED: answer size check:"; cat "$DATA_DIR/sizes.err"; }
    echo
    echo "commands:"
    echo "  $SERVER_CMD"
    local ep
    for ep in "${ROW_KEYS[@]}"; do echo "  ${WRK_CMDS[$ep]}"; done
    echo "  python3 $BENCH_DIR/sizes.py $SERVER_URL"
    if [[ ${#OHA_CMDS[@]} -gt 0 ]]; then printf '  %s\n' "${OHA_CMDS[@]}"; fi
  } | tee "$RESULTS_FILE"
  log "results written to $RESULTS_FILE"

  check_answers || exit 3
  [[ $SIZES_OK -eq 0 ]] || exit 3
}

main "$@"
