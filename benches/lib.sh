# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are read by the scripts that source it
# Shared functions of benches/load.sh and benches/postgis.sh (sourced, not run).
#
# Conventions: the caller has `set -euo pipefail` and has cd'd to the repository root.
# Everything generated goes under target/bench-data/ (git-ignored, reused between runs).

BENCH_DIR=benches
DATA_DIR=target/bench-data
TOOLS_DIR=target/tools
# SPORTELLO_BENCH_BIN=PATH measures another build of sportello (e.g. the commit before a change)
# as it is: nothing is compiled, and its bundles are kept apart (named after the binary).
BIN=${SPORTELLO_BENCH_BIN:-target/release/sportello}

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
  printf '[bench] ERROR: %s\n' "$*" >&2
  exit 1
}

# --- installing what the benchmarks need -------------------------------------------------------

APT_UPDATED=0
# apt's chatter goes to a log, shown only when something fails.
APT_LOG="$DATA_DIR/apt.log"

apt_update_once() {
  [[ $APT_UPDATED -eq 0 ]] || return 0
  [[ $(id -u) -eq 0 ]] || die "installing packages needs root (run as root or install them yourself)"
  mkdir -p "$DATA_DIR"
  log "apt-get update"
  apt-get update >"$APT_LOG" 2>&1 || { cat "$APT_LOG" >&2; die "apt-get update failed: cannot install packages"; }
  APT_UPDATED=1
}

# apt_install PKG...: installs Debian packages (after `apt-get update`, once per script run).
apt_install() {
  apt_update_once
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >"$APT_LOG" 2>&1 ||
    { tail -n 30 "$APT_LOG" >&2; die "apt-get install $* failed"; }
}

ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return
  apt_install wrk
  command -v wrk >/dev/null 2>&1 || die "wrk is still missing after installing it"
}

ensure_curl() {
  command -v curl >/dev/null 2>&1 && return
  apt_install curl
}

# --- building and the benchmark data -----------------------------------------------------------

build_release() {
  if [[ -n ${SPORTELLO_BENCH_BIN:-} ]]; then
    [[ -x $BIN ]] || die "SPORTELLO_BENCH_BIN=$BIN is not an executable"
    log "measuring $BIN (SPORTELLO_BENCH_BIN), not building"
    return
  fi
  # The target dir is shared: cargo may wait on its lock, which is fine.
  log "cargo build --release"
  cargo build --release >&2 || die "cargo build --release failed"
}

# ensure_data COUNT SEED: sets DATA_GEOJSON and DATA_BUNDLE, generating them once per COUNT and SEED.
# The same files serve load.sh and postgis.sh, so both benchmark exactly the same desks. (The
# GeoJSON name is the one the criterion benches use too; the bundle is ours, built from that file.)
ensure_data() {
  local count=$1 seed=$2
  mkdir -p "$DATA_DIR"
  DATA_GEOJSON="$DATA_DIR/synth-$count-$seed.geojson"
  DATA_BUNDLE="$DATA_DIR/bundle-n$count-s$seed${SPORTELLO_BENCH_BIN:+-$(basename "$BIN")}"
  # A complete file ends with the collection's closing "]}".
  if [[ ! -s $DATA_GEOJSON ]] || [[ $(tail -c 3 "$DATA_GEOJSON" | tr -d '[:space:]') != "]}" ]]; then
    log "synth --count $count --seed $seed --out $DATA_GEOJSON"
    # Written aside and renamed, so an interrupted run never leaves a truncated file to reuse.
    "$BIN" synth --count "$count" --seed "$seed" --out "$DATA_GEOJSON.tmp" || die "synth failed"
    mv "$DATA_GEOJSON.tmp" "$DATA_GEOJSON"
  fi
  # Reuse the bundle if it was built from this file and still loads (a newer binary may have
  # changed the bundle format).
  if [[ -f $DATA_BUNDLE/manifest.json && $DATA_BUNDLE/manifest.json -nt $DATA_GEOJSON ]] &&
    "$BIN" query --bundle "$DATA_BUNDLE" nearest 'lat=45.46&lon=9.19&k=1' >/dev/null 2>&1; then
    log "reusing $DATA_BUNDLE"
  else
    log "build --input $DATA_GEOJSON --out $DATA_BUNDLE"
    rm -rf "$DATA_BUNDLE"
    "$BIN" build --no-tiles --input "$DATA_GEOJSON" --out "$DATA_BUNDLE" >&2 || die "build of the bundle failed"
  fi
}

# --- pinning: server and load generator on separate cores --------------------------------------

# Sets SERVER_PIN and CLIENT_PIN (command prefixes, possibly empty) and PIN_NOTE.
setup_pinning() {
  if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null 2>&1; then
    SERVER_PIN=(taskset -c 0)
    CLIENT_PIN=(taskset -c 1)
    PIN_NOTE="server on core 0, client on core 1"
  else
    SERVER_PIN=()
    CLIENT_PIN=()
    PIN_NOTE="UNPINNED: fewer than 2 cores (or no taskset); server and client share the CPU"
  fi
  log "$PIN_NOTE"
}

machine_line() {
  local model
  model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
  printf 'machine: %s cores (nproc), %s, %s GiB RAM\n' "$(nproc)" "${model:-unknown CPU}" \
    "$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
}

# free_port START: prints the first TCP port from START on that nothing listens on (loopback).
free_port() {
  local port=$1
  # A successful connect means the port is taken (e.g. by someone's dev server on 8080).
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

# --- our server --------------------------------------------------------------------------------

SERVER_PID=
# start_server BUNDLE: starts sportello pinned to the server core; sets SERVER_URL and SERVER_CMD.
start_server() {
  local bundle=$1 port
  port=$(free_port 18080)
  SERVER_URL="http://127.0.0.1:$port"
  # The access log writes one line per request at `info`; the benchmark measures the queries,
  # so it runs at `warn` unless RUST_LOG says otherwise.
  SERVER_CMD="RUST_LOG=${RUST_LOG:-warn} ${SERVER_PIN[*]} $BIN serve --bundle $bundle --listen 127.0.0.1:$port --rate-limit 0"
  log "$SERVER_CMD"
  RUST_LOG=${RUST_LOG:-warn} "${SERVER_PIN[@]}" "$BIN" serve --bundle "$bundle" --listen "127.0.0.1:$port" --rate-limit 0 \
    2>>"$DATA_DIR/server.log" &
  SERVER_PID=$!
  wait_ready "$SERVER_URL/readyz" 600
}

# wait_ready URL TIMEOUT_S: waits for 200 from URL, and for the check of the bundle's large files
# that runs after the start to pass (`"verified":"pending"` until then; measuring beside it would
# give the check's CPU to the first rounds); fails early if the server process died.
wait_ready() {
  local url=$1 timeout=$2 i body
  for ((i = 0; i < timeout * 10; i++)); do
    if body=$(curl -fsS "$url" 2>/dev/null) && [[ $body != *'"verified":"pending"'* ]]; then
      log "ready: $body"
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited before it was ready (see $DATA_DIR/server.log)"
    sleep 0.1
  done
  die "the server was not ready after ${timeout}s (see $DATA_DIR/server.log)"
}

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # Graceful shutdown waits for open connections; do not wait forever.
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# --- CPU accounting: is something else competing for the cores? -------------------------------
#
# Over a measured run, the ticks all CPUs were busy (user, nice, system, steal), minus those of
# the servers and of the load generator, are someone else's work (a compiler, a test suite): the
# run was disturbed. The servers' own share tells whether the server was saturated (a max-rate
# run below ~90% of its core was limited by something else, e.g. the client).

CLK_TCK=$(getconf CLK_TCK)

busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $9; exit }' /proc/stat; }

# tree_ticks PID...: CPU ticks of the processes, their live children and their reaped children.
# (Children are found by their parent pid: /proc/PID/task/*/children is not in every kernel.)
tree_ticks() {
  [[ $# -gt 0 ]] || { echo 0; return; }
  # Drop "(comm) " (it may hold spaces); then $1 pid, $3 ppid, $13..$16 utime stime cutime cstime.
  # A process may end between the glob and the read: cat then fails, which must not end the run.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed 's/ (.*) / /' | awk -v pids=" $* " '
    index(pids, " " $1 " ") || index(pids, " " $3 " ") { total += $13 + $14 + $15 + $16 }
    END { print total + 0 }'
}

# The load generators are this shell's children: their ticks add to its cutime/cstime once reaped.
client_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'; }

# measure_start PID...: starts measuring; the PIDs (and their children) are the server under load.
measure_start() {
  M_PIDS=("$@")
  M_BUSY=$(busy_ticks) M_SERVER=$(tree_ticks "${M_PIDS[@]}") M_CLIENT=$(client_ticks)
  M_START=$(date +%s.%N)
}

# measure_end: sets SERVER_CPU and OTHER_CPU, in percent of one core, since measure_start.
measure_end() {
  local busy server client
  busy=$(($(busy_ticks) - M_BUSY))
  server=$(($(tree_ticks "${M_PIDS[@]}") - M_SERVER))
  client=$(($(client_ticks) - M_CLIENT))
  read -r SERVER_CPU OTHER_CPU < <(awk -v t0="$M_START" -v t1="$(date +%s.%N)" -v hz="$CLK_TCK" \
    -v b="$busy" -v s="$server" -v c="$client" 'BEGIN {
      ticks = (t1 - t0) * hz; o = b - s - c; if (o < 0) o = 0
      printf "%.0f %.0f\n", 100 * s / ticks, 100 * o / ticks }')
}

# check_quiet PID...: before measuring, says so if the machine is already busy (1 s sample, idle
# servers PID...).
check_quiet() {
  measure_start "$@"
  sleep 1
  measure_end
  if [[ $OTHER_CPU -gt 10 ]]; then
    log "WARNING: other processes use ${OTHER_CPU}% of a core before the benchmark: results will be disturbed"
  fi
}

# --- load generators ---------------------------------------------------------------------------

CLIENT_PID=
# run_client OUTFILE CMD...: runs a load generator with its output in OUTFILE. In the background
# with `wait`, so that a signal to this script is handled at once (`wait` is interruptible, a
# foreground command is not) and cleanup can stop the client.
run_client() {
  local out=$1 rc=0
  shift
  "$@" >"$out" 2>&1 &
  CLIENT_PID=$!
  wait "$CLIENT_PID" || rc=$?
  CLIENT_PID=
  return "$rc"
}

stop_client() {
  [[ -n $CLIENT_PID ]] || return 0
  kill -TERM "$CLIENT_PID" 2>/dev/null || true
  wait "$CLIENT_PID" 2>/dev/null || true
  CLIENT_PID=
}

# --- wrk ---------------------------------------------------------------------------------------

# run_wrk NAME DURATION CONNECTIONS OUTFILE [WRK_ARG...]: runs wrk on $SERVER_URL with
# benches/wrk/NAME.lua (and the extra arguments, e.g. -H 'Accept-Encoding: gzip') and sets WRK_RPS,
# WRK_P99_MS, WRK_NON2XX, WRK_SOCKET_ERRORS, WRK_CMD, SERVER_CPU and OTHER_CPU. The raw output is
# kept in OUTFILE.
run_wrk() {
  local name=$1 duration=$2 conns=$3 out=$4
  shift 4
  # --timeout: wrk's default (2 s) would drop the slowest answers (search on 1M desks) from the
  # latency histogram as "timeout" errors instead of counting them in p99.
  local -a cmd=("${CLIENT_PIN[@]}" wrk -t1 "-c$conns" "-d${duration}s" --timeout 10s --latency "$@"
    -s "$BENCH_DIR/wrk/$name.lua" "$SERVER_URL")
  WRK_CMD=$(printf '%q ' "${cmd[@]}")
  measure_start "$SERVER_PID"
  run_client "$out" "${cmd[@]}" || die "wrk failed for $name: $(cat "$out")"
  measure_end
  parse_wrk "$out"
}

# parse_wrk FILE: reads requests/sec, the 99% latency (in ms), non-2xx answers and socket errors.
parse_wrk() {
  local f=$1
  WRK_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
  WRK_P99_MS=$(awk '$1 == "99%" { print to_ms($2) }
    function to_ms(v,  n) {
      n = v + 0
      if (v ~ /us$/) return n / 1000
      if (v ~ /ms$/) return n
      if (v ~ /m$/) return n * 60000
      if (v ~ /s$/) return n * 1000
      return n
    }' "$f")
  WRK_NON2XX=$(awk -F: '/Non-2xx or 3xx responses/ { gsub(/ /, "", $2); print $2 }' "$f")
  WRK_NON2XX=${WRK_NON2XX:-0}
  # "Socket errors: connect 0, read 0, write 0, timeout 0" -> the sum.
  WRK_SOCKET_ERRORS=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$f")
  WRK_SOCKET_ERRORS=${WRK_SOCKET_ERRORS:-0}
  WRK_RPS=${WRK_RPS:-0}
  WRK_P99_MS=${WRK_P99_MS:-nan}
}

# --- small statistics --------------------------------------------------------------------------

# median X...: the median of the numbers given.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
    END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with 3 decimals ("nan" when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.3f\n", a / b }'; }

# max X...: the largest of the numbers given.
max() { printf '%s\n' "$@" | sort -g | tail -n1; }

# fmt_int X...: numbers rounded to integers, joined with ", ".
fmt_int() { printf '%s\n' "$@" | awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 } END { print "" }'; }
