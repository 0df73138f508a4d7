#!/usr/bin/env bash
# Soak run of sportello (outside CI): the release server, pinned to one core, under a mixed load
# of nearest, viewport, search (and tile) requests at a fixed rate — half the maximum rate of the
# same mix, measured first — for a long time (10 minutes by default), while its memory is sampled
# from /proc. Prints RSS at the start, the peak and at the end, whether memory stayed flat, the
# requests served and every non-2xx answer. Only loopback is ever sent anything.
# See benches/README.md ("soak.sh").
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh

RESULTS_FILE="$DATA_DIR/soak-results.txt"
RSS_FILE="$DATA_DIR/soak-rss.tsv"
# Shares of the mix, in percent. Tiles only when the server has them (see --tiles).
WEIGHTS_WITH_TILES="nearest=40,points=30,search=15,tiles=15"
WEIGHTS_WITHOUT_TILES="nearest=45,points=35,search=20"

usage() {
  cat <<'EOF'
Usage: benches/soak.sh [--minutes M] [--count N] [--seed S] [--bundle DIR] [--rate R]
                       [--connections C] [--sample SECONDS] [--tiles auto|yes|no]
  --minutes M      length of the soak (default 10)
  --count N        synthetic desks when no --bundle is given (default 1000000)
  --seed S         synth seed (default 1)
  --bundle DIR     serve this bundle instead of a synthetic one
  --rate R         the soak's rate in req/s (default: half the measured maximum of the mix)
  --connections C  connections of the maximum-rate probe (default 32)
  --sample S       seconds between two memory samples (default 5)
  --tiles MODE     include /tiles/{z}/{x}/{y}.geojson requests: auto (when /tiles/tiles.json
                   answers 200, the default), yes, or no
EOF
}

parse_args() {
  MINUTES=10 COUNT=1000000 SEED=1 BUNDLE='' RATE='' CONNS=32 SAMPLE=5 TILES=auto
  while [[ $# -gt 0 ]]; do
    case $1 in
      --minutes) MINUTES=${2:?--minutes needs a value}; shift 2 ;;
      --count) COUNT=${2:?--count needs a value}; shift 2 ;;
      --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
      --bundle) BUNDLE=${2:?--bundle needs a value}; shift 2 ;;
      --rate) RATE=${2:?--rate needs a value}; shift 2 ;;
      --connections) CONNS=${2:?--connections needs a value}; shift 2 ;;
      --sample) SAMPLE=${2:?--sample needs a value}; shift 2 ;;
      --tiles) TILES=${2:?--tiles needs a value}; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  local v
  for v in "$MINUTES" "$COUNT" "$SEED" "$CONNS" "$SAMPLE" ${RATE:+"$RATE"}; do
    [[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || die "options take positive integers, got '$v'"
  done
  [[ $TILES =~ ^(auto|yes|no)$ ]] || die "--tiles takes auto, yes or no, got '$TILES'"
  [[ -z $BUNDLE || -f $BUNDLE/manifest.json ]] || die "--bundle $BUNDLE: no manifest.json there"
}

SAMPLER_PID=
CLIENT_PIDS=()
cleanup() {
  local p
  for p in "${CLIENT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [[ -z $SAMPLER_PID ]] || kill "$SAMPLER_PID" 2>/dev/null || true
  stop_client
  stop_server
}

# rss_kb FIELD: the server's VmRSS or VmHWM in kB.
rss_kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVER_PID/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Samples seconds-since-start, VmRSS and VmHWM (kB) every SAMPLE seconds into RSS_FILE.
start_sampler() {
  printf 'seconds\tvmrss_kb\tvmhwm_kb\n' >"$RSS_FILE"
  (
    t0=$(date +%s)
    while kill -0 "$SERVER_PID" 2>/dev/null; do
      printf '%s\t%s\t%s\n' $(($(date +%s) - t0)) "$(rss_kb VmRSS)" "$(rss_kb VmHWM)" >>"$RSS_FILE"
      sleep "$SAMPLE"
    done
  ) &
  SAMPLER_PID=$!
}

# The server's request counters by route and status, one "route status count" line each.
server_counts() {
  curl -fsS "$SERVER_URL/metrics" | sed -n 's/^sportello_http_requests_total{route="\([^"]*\)",status="\([0-9]*\)"} \([0-9]*\)$/\1 \2 \3/p' | sort
}

# The mix's maximum rate: one wrk with every kind interleaved, CONNS connections, 10 s.
measure_max() {
  log "maximum rate of the mix ($WEIGHTS): wrk -t1 -c$CONNS -d10s"
  SOAK_KIND=mix SOAK_WEIGHTS=$WEIGHTS run_wrk soak 10 "$CONNS" "$DATA_DIR/soak-max.txt"
  [[ $WRK_NON2XX -eq 0 ]] || die "the maximum-rate probe got $WRK_NON2XX non-2xx answers (see $DATA_DIR/soak-max.txt)"
  MAX_RPS=$WRK_RPS
  log "maximum: $MAX_RPS req/s (server CPU $SERVER_CPU%)"
}

# paced KIND RATE: connections and delay (ms) so that each connection, waiting DELAY after each
# answer, adds up to about RATE req/s: about 50 req/s per connection, delay near 20 ms.
paced() {
  local rate=$1 conns delay
  conns=$(awk -v r="$rate" 'BEGIN { c = int(r / 50 + 0.5); print (c < 1 ? 1 : c) }')
  delay=$(awk -v r="$rate" -v c="$conns" 'BEGIN { d = int(1000 * c / r + 0.5); print (d < 1 ? 1 : d) }')
  echo "$conns $delay"
}

# run_paced SECONDS TAG: one paced wrk per kind, all at once on the client core; sets, per kind,
# GOT_RPS, GOT_REQS, GOT_NON2XX, GOT_ERRORS.
declare -A SHARE CONNS_OF DELAY_OF GOT_RPS GOT_REQS GOT_NON2XX GOT_ERRORS WRK_LINE
run_paced() {
  local seconds=$1 tag=$2 kind pid rc=0
  CLIENT_PIDS=()
  for kind in "${KINDS[@]}"; do
    local -a cmd=("${CLIENT_PIN[@]}" wrk -t1 "-c${CONNS_OF[$kind]}" "-d${seconds}s" --timeout 10s --latency
      -s "$BENCH_DIR/wrk/soak.lua" "$SERVER_URL")
    WRK_LINE[$kind]="SOAK_KIND=$kind SOAK_DELAY_MS=${DELAY_OF[$kind]} ${cmd[*]}"
    SOAK_KIND=$kind SOAK_DELAY_MS=${DELAY_OF[$kind]} "${cmd[@]}" >"$DATA_DIR/soak-$tag-$kind.txt" 2>&1 &
    CLIENT_PIDS+=($!)
  done
  for pid in "${CLIENT_PIDS[@]}"; do wait "$pid" || rc=$?; done
  CLIENT_PIDS=()
  [[ $rc -eq 0 ]] || die "wrk failed (see $DATA_DIR/soak-$tag-*.txt)"
  for kind in "${KINDS[@]}"; do
    parse_wrk "$DATA_DIR/soak-$tag-$kind.txt"
    GOT_RPS[$kind]=$WRK_RPS
    GOT_REQS[$kind]=$(awk '/requests in/ { print $1 }' "$DATA_DIR/soak-$tag-$kind.txt")
    GOT_NON2XX[$kind]=$WRK_NON2XX
    GOT_ERRORS[$kind]=$WRK_SOCKET_ERRORS
  done
}

main() {
  parse_args "$@"
  ensure_curl
  ensure_wrk
  build_release
  if [[ -n $BUNDLE ]]; then
    DATA_BUNDLE=$BUNDLE
    mkdir -p "$DATA_DIR"
  else
    ensure_data "$COUNT" "$SEED"
  fi
  setup_pinning
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_server "$DATA_BUNDLE"
  RSS_LOADED=$(rss_kb VmRSS)
  DESKS=$(curl -fsS "$SERVER_URL/readyz" | sed -n 's/.*"points":\([0-9]*\).*/\1/p')
  check_quiet "$SERVER_PID"

  local tiles_status
  tiles_status=$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_URL/tiles/tiles.json" || true)
  case $TILES in
    yes) WITH_TILES=1 ;;
    no) WITH_TILES=0 ;;
    auto) WITH_TILES=$([[ $tiles_status == 200 ]] && echo 1 || echo 0) ;;
  esac
  if [[ $WITH_TILES -eq 1 ]]; then
    WEIGHTS=$WEIGHTS_WITH_TILES TILE_NOTE="tiles included (/tiles/tiles.json: $tiles_status)"
  else
    WEIGHTS=$WEIGHTS_WITHOUT_TILES TILE_NOTE="no tile requests (/tiles/tiles.json answered $tiles_status; --tiles yes forces them)"
  fi
  log "$TILE_NOTE"
  KINDS=()
  local pair kind share
  for pair in ${WEIGHTS//,/ }; do
    kind=${pair%=*} share=${pair#*=}
    KINDS+=("$kind")
    SHARE[$kind]=$share
  done

  if [[ -n $RATE ]]; then
    MAX_RPS="(not measured: --rate given)"
    TARGET=$RATE
  else
    measure_max
    TARGET=$(awk -v m="$MAX_RPS" 'BEGIN { printf "%d", m / 2 }')
  fi
  [[ $TARGET -gt 0 ]] || die "a rate of 0 req/s"
  for kind in "${KINDS[@]}"; do
    read -r "CONNS_OF[$kind]" "DELAY_OF[$kind]" < <(paced "$(awk -v t="$TARGET" -v s="${SHARE[$kind]}" 'BEGIN { print t * s / 100 }')")
  done

  # Calibration: 10 s at those settings; a kind that fell short (its answers take a part of each
  # connection's cycle) gets more connections in proportion.
  log "calibrating the pace to $TARGET req/s (10 s)"
  run_paced 10 calibrate
  for kind in "${KINDS[@]}"; do
    local want
    want=$(awk -v t="$TARGET" -v s="${SHARE[$kind]}" 'BEGIN { print t * s / 100 }')
    CONNS_OF[$kind]=$(awk -v c="${CONNS_OF[$kind]}" -v w="$want" -v g="${GOT_RPS[$kind]}" \
      'BEGIN { n = (g > 0 ? int(c * w / g + 0.5) : c); print (n < 1 ? 1 : n) }')
    log "  $kind: ${GOT_RPS[$kind]} of $want req/s -> ${CONNS_OF[$kind]} connections, ${DELAY_OF[$kind]} ms apart"
  done

  local before after seconds=$((MINUTES * 60))
  before=$(server_counts)
  RSS_START=$(rss_kb VmRSS) HWM_START=$(rss_kb VmHWM)
  log "soak: $MINUTES min at $TARGET req/s ($WEIGHTS); RSS now $(mb "$RSS_START") MB"
  start_sampler
  measure_start "$SERVER_PID"
  run_paced "$seconds" soak
  measure_end
  RSS_END=$(rss_kb VmRSS) HWM_END=$(rss_kb VmHWM)
  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=
  after=$(server_counts)
  stop_server

  local total=0 bad=0 errors=0 achieved=0
  for kind in "${KINDS[@]}"; do
    total=$((total + ${GOT_REQS[$kind]:-0}))
    bad=$((bad + ${GOT_NON2XX[$kind]:-0}))
    errors=$((errors + ${GOT_ERRORS[$kind]:-0}))
    achieved=$(awk -v a="$achieved" -v g="${GOT_RPS[$kind]}" 'BEGIN { print a + g }')
  done
  {
    echo "sportello soak, $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- src 2>/dev/null || echo ' (src modified)')"
    machine_line
    echo "bundle: $DATA_BUNDLE ($DESKS desks)"
    echo "$PIN_NOTE; $TILE_NOTE"
    echo "maximum rate of the mix: $MAX_RPS req/s; soak at $TARGET req/s for $MINUTES min ($WEIGHTS)"
    echo
    printf '%-8s | %6s | %11s | %10s | %12s | %s\n' kind share "target r/s" "got r/s" requests "non-2xx / socket errors"
    printf '%s\n' "---------|--------|-------------|------------|--------------|------------------------"
    for kind in "${KINDS[@]}"; do
      printf '%-8s | %5s%% | %11.0f | %10.0f | %12s | %s / %s\n' "$kind" "${SHARE[$kind]}" \
        "$(awk -v t="$TARGET" -v s="${SHARE[$kind]}" 'BEGIN { print t * s / 100 }')" "${GOT_RPS[$kind]}" \
        "${GOT_REQS[$kind]}" "${GOT_NON2XX[$kind]}" "${GOT_ERRORS[$kind]}"
    done
    printf '%-8s | %6s | %11s | %10.0f | %12s | %s / %s\n' all 100% "$TARGET" "$achieved" "$total" "$bad" "$errors"
    echo "server CPU $SERVER_CPU% of its core, other processes $OTHER_CPU%"
    if [[ $OTHER_CPU -gt 10 ]]; then
      echo "WARNING: other processes used ${OTHER_CPU}% of a core: the rates are disturbed (memory figures are not)"
    fi
    echo
    echo "the server's own count during the soak (/metrics, route status answers):"
    awk 'NR == FNR { before[$1 " " $2] = $3; next }
      { d = $3 - before[$1 " " $2]; if (d > 0 && $1 !~ /^\/(metrics|readyz|healthz)$/) printf "  %-22s %s %12d\n", $1, $2, d }' \
      <(echo "$before") <(echo "$after")
    echo
    python3 - "$RSS_FILE" "$RSS_LOADED" "$RSS_START" "$HWM_START" "$RSS_END" "$HWM_END" <<'EOF'
import sys
path, loaded, start, hwm_start, end, hwm_end = sys.argv[1], *map(int, sys.argv[2:])
rows = [tuple(map(int, l.split("\t"))) for l in open(path).read().splitlines()[1:] if l.count("\t") == 2 and "" not in l.split("\t")]
mb = lambda kb: f"{kb / 1024:.1f} MB"
print(f"memory (VmRSS; peak = VmHWM), {len(rows)} samples:")
print(f"  after loading the bundle   {mb(loaded)}")
print(f"  at the start of the soak   {mb(start)}   (peak so far {mb(hwm_start)})")
print(f"  peak during the soak       {mb(max([r[1] for r in rows] + [end]))}   (VmHWM at the end {mb(hwm_end)})")
print(f"  at the end of the soak     {mb(end)}")
# Flat: the last tenth of the samples against the first tenth (after the start, so warm-up of the
# first requests counts in the start).
if len(rows) >= 10:
    k = max(1, len(rows) // 10)
    first = sum(r[1] for r in rows[:k]) / k
    last = sum(r[1] for r in rows[-k:]) / k
    growth = (last - first) / first * 100
    verdict = "FLAT" if abs(growth) <= 5 else "NOT FLAT"
    print(f"  first tenth {mb(first)}, last tenth {mb(last)}: {growth:+.1f} % -> {verdict} (|growth| <= 5 %)")
else:
    print("  too few samples to judge flatness (run longer or sample more often)")
EOF
    echo
    echo "commands:"
    echo "  $SERVER_CMD"
    for kind in "${KINDS[@]}"; do echo "  ${WRK_LINE[$kind]}"; done
    echo "RSS samples: $RSS_FILE"
  } | tee "$RESULTS_FILE"
  log "results written to $RESULTS_FILE"
  [[ $bad -eq 0 && $errors -eq 0 ]] || { echo "FAILED: $bad non-2xx answers, $errors socket errors" >&2; exit 3; }
}

main "$@"
