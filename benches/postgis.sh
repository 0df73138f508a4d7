#!/usr/bin/env bash
# sportello's nearest-desk queries against the usual alternative, PostgreSQL + PostGIS (GIST
# index, KNN `<->`), on the same synthetic desks and the same machine: both servers pinned to
# core 0, their load generators (wrk, pgbench) to core 1, in interleaved rounds.
# See benches/README.md for what it prints and why.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh

RESULTS_FILE="$DATA_DIR/postgis-results.txt"
PG_DB=bench

usage() {
  cat <<'EOF'
Usage: benches/postgis.sh [--count N] [--seed S] [--duration SECONDS] [--rounds R] [--connections C]
  --count N        synthetic desks (default 1000000), the same files as benches/load.sh
  --seed S         synth seed (default 1)
  --duration D     seconds per wrk or pgbench run (default 10)
  --rounds R       interleaved rounds (default 3)
  --connections C  concurrent connections of wrk and of pgbench (default 32)
EOF
}

parse_args() {
  COUNT=1000000 SEED=1 DURATION=10 ROUNDS=3 CONNS=32
  while [[ $# -gt 0 ]]; do
    case $1 in
      --count) COUNT=${2:?--count needs a value}; shift 2 ;;
      --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
      --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
      --rounds) ROUNDS=${2:?--rounds needs a value}; shift 2 ;;
      --connections) CONNS=${2:?--connections needs a value}; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  local v
  for v in "$COUNT" "$SEED" "$DURATION" "$ROUNDS" "$CONNS"; do
    [[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || die "options take positive integers, got '$v'"
  done
}

# --- PostgreSQL + PostGIS from Debian ----------------------------------------------------------

# Sets PGBIN (the newest installed server's bin dir) and PGVER; installs the server and PostGIS
# for that version if missing.
ensure_postgis() {
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    apt_install postgresql
  fi
  PGBIN=$(dirname "$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")
  PGVER=$(basename "$(dirname "$PGBIN")")
  [[ -x $PGBIN/initdb && -x $PGBIN/pgbench ]] || die "no initdb/pgbench in $PGBIN after installing postgresql"
  [[ -f /usr/share/postgresql/$PGVER/extension/postgis.control ]] && return
  # Debian names it postgresql-<major>-postgis-<postgis major>, e.g. postgresql-15-postgis-3.
  apt_update_once
  local pkg="postgresql-$PGVER-postgis-3"
  if ! apt-cache show "$pkg" >/dev/null 2>&1; then
    pkg=$(apt-cache search --names-only "^postgresql-$PGVER-postgis-[0-9]+$" | awk '{ print $1 }' | sort -V | tail -n1)
    [[ -n $pkg ]] || die "no PostGIS package for PostgreSQL $PGVER in apt (try: apt-cache search postgis)"
  fi
  apt_install "$pkg"
  [[ -f /usr/share/postgresql/$PGVER/extension/postgis.control ]] ||
    die "PostGIS for PostgreSQL $PGVER is still missing after installing it"
}

# --- our own throw-away cluster ----------------------------------------------------------------

PG_ROOT=
# PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user, in a temp dir.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

start_postgres() {
  PG_ROOT=$(mktemp -d /tmp/sportello-bench-pg.XXXXXX)
  chown postgres: "$PG_ROOT"
  PGDATA_DIR=$PG_ROOT/data
  PG_PORT=$(free_port 5544)
  log "initdb $PGDATA_DIR (PostgreSQL $PGVER), port $PG_PORT"
  as_postgres "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C >"$PG_ROOT/initdb.log" 2>&1 ||
    { cat "$PG_ROOT/initdb.log" >&2; die "initdb failed"; }
  # Read-only benchmark data: durability is worth nothing here (fsync off). One core for the
  # server, so no parallel query; no autovacuum waking up mid-run; data cached in shared buffers.
  cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_ROOT'
max_connections = $((CONNS + 20))
shared_buffers = 1GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 1GB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 8GB
autovacuum = off
jit = off
max_parallel_workers_per_gather = 0
random_page_cost = 1.1
EOF
  PG_SETTINGS="shared_buffers=1GB fsync=off synchronous_commit=off full_page_writes=off autovacuum=off jit=off max_parallel_workers_per_gather=0 random_page_cost=1.1 max_connections=$((CONNS + 20))"
  # taskset on pg_ctl: the postmaster and every backend it forks inherit the core.
  PG_START_CMD="runuser -u postgres -- ${SERVER_PIN[*]} $PGBIN/pg_ctl -D $PGDATA_DIR -w start"
  log "$PG_START_CMD"
  as_postgres "${SERVER_PIN[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_ROOT/server.log" -w -t 120 start >/dev/null ||
    { tail -n 30 "$PG_ROOT/server.log" >&2; die "PostgreSQL did not start"; }
  # The postmaster: its CPU and its backends' count as PostgreSQL's.
  PG_PID=$(head -n1 "$PGDATA_DIR/postmaster.pid")
  PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $PG_DB" || die "CREATE DATABASE failed"
}

stop_postgres() {
  [[ -n $PG_ROOT ]] || return 0
  if [[ -f $PGDATA_DIR/postmaster.pid ]]; then
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null 2>&1 || {
      # Our own postmaster (first line of postmaster.pid), should pg_ctl fail.
      local pid
      pid=$(head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
      if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    }
  fi
  rm -rf "$PG_ROOT"
  PG_ROOT=
}

psql_bench() { "${PSQL[@]}" -d "$PG_DB" "$@"; }

# Loads the same desks as sportello's bundle: streamed GeoJSON -> CSV -> COPY, then the GIST index.
load_desks() {
  log "loading $DATA_GEOJSON into PostGIS"
  psql_bench -c "CREATE EXTENSION postgis" \
    -c "CREATE TABLE desks (id text PRIMARY KEY, geog geography(Point, 4326), langs text[], domains text[], audience text)"
  local start=$SECONDS
  python3 "$BENCH_DIR/geojson_to_csv.py" "$DATA_GEOJSON" |
    psql_bench -c "\\copy desks FROM pstdin WITH (FORMAT csv)" || die "COPY into desks failed"
  log "COPY took $((SECONDS - start))s; building the GIST index"
  start=$SECONDS
  psql_bench -c "CREATE INDEX desks_geog_gist ON desks USING gist (geog)" -c "VACUUM ANALYZE desks"
  log "index and VACUUM ANALYZE took $((SECONDS - start))s"
  local n
  n=$(psql_bench -At -c "SELECT count(*) FROM desks")
  [[ $n -eq $COUNT ]] || die "PostGIS holds $n desks, expected $COUNT"
}

# The pgbench query with fixed numbers for a point (Milan) instead of pgbench variables.
sample_query() {
  sed -n '/^SELECT/p' "$BENCH_DIR/pgbench/$1.sql" | sed 's/:lon \/ 100000.0/9.19/; s/:lat \/ 100000.0/45.4642/'
}

# Prints each query's plan once; warns loudly if the KNN does not walk the GIST index.
explain_plans() {
  local script plan
  for script in knn knn_ti; do
    mapfile -t plan < <(psql_bench -At -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $(sample_query "$script")")
    printf 'EXPLAIN ANALYZE of %s (at Milan):\n' "$script"
    printf '    %s\n' "${plan[@]}"
    echo
    printf '%s\n' "${plan[@]}" | grep -q 'Index Scan using desks_geog_gist' ||
      printf 'WARNING: the %s query does not use the GIST index: PostGIS numbers are not representative\n\n' "$script"
  done
}

# Sanity check that both sides answer the same question on the same data: the ids of the 10
# nearest public desks to Milan (PostGIS sorts on the sphere by `<->`, sportello by haversine).
compare_answers() {
  local ours theirs common
  ours=$(curl -fsS "$SERVER_URL/api/v1/nearest?lat=45.4642&lon=9.19&k=10" |
    python3 -c 'import json,sys; print("\n".join(f["id"] for f in json.load(sys.stdin)["features"]))' | sort)
  theirs=$(psql_bench -At -c "$(sample_query knn)" | cut -d'|' -f1 | sort)
  common=$(comm -12 <(echo "$ours") <(echo "$theirs") | grep -c . || true)
  echo "same answer: $common of the 10 nearest public desks to Milan are the same in sportello and PostGIS"
}

# run_pgbench SCRIPT OUTFILE: sets PGB_TPS, PGB_LAT_MS, PGB_FAILED, PGB_CMD, SERVER_CPU, OTHER_CPU.
run_pgbench() {
  local script=$1 out=$2
  local -a cmd=("${CLIENT_PIN[@]}" "$PGBIN/pgbench" -n -f "$BENCH_DIR/pgbench/$script.sql" -c "$CONNS" -j 2
    -T "$DURATION" --random-seed="$SEED" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$PG_DB")
  PGB_CMD="${cmd[*]}"
  measure_start "$PG_PID"
  run_client "$out" "${cmd[@]}" || die "pgbench $script failed: $(tail -n 20 "$out")"
  measure_end
  PGB_TPS=$(awk '/^tps = / { print $3; exit }' "$out")
  PGB_LAT_MS=$(awk '/^latency average = / { print $4; exit }' "$out")
  PGB_FAILED=$(awk '/^number of failed transactions:/ { print $5; exit }' "$out")
  PGB_TPS=${PGB_TPS:-0} PGB_FAILED=${PGB_FAILED:-0}
}

# Rounds of [ours nearest, PostGIS unfiltered, ours nearest lang=ti, PostGIS filtered].
declare -A OURS PG RATIOS WRK_CMDS PGB_CMDS OURS_CPU PG_CPU
OTHER_CPUS=()
run_rounds() {
  local round
  for ((round = 1; round <= ROUNDS; round++)); do
    run_pair unfiltered nearest knn "$round"
    run_pair filtered nearest_lang knn_ti "$round"
  done
}

# run_pair KEY WRK_SCRIPT PGBENCH_SCRIPT ROUND
run_pair() {
  local key=$1 wrk_script=$2 pg_script=$3 round=$4
  # A second's pause before each run: the previous run's 32 PostgreSQL backends exit on the
  # server core, and must not eat into the next measurement.
  sleep 1
  run_wrk "$wrk_script" "$DURATION" "$CONNS" "$DATA_DIR/pg-wrk-$wrk_script-round$round.txt"
  [[ $WRK_NON2XX -eq 0 ]] || die "sportello answered $WRK_NON2XX non-2xx responses to $wrk_script"
  WRK_CMDS[$key]=$WRK_CMD
  OURS[$key]+="$WRK_RPS "
  OURS_CPU[$key]+="$SERVER_CPU "
  OTHER_CPUS+=("$OTHER_CPU")
  log "round $round/$ROUNDS $key: sportello $WRK_RPS req/s (p99 $WRK_P99_MS ms), server CPU $SERVER_CPU%, other CPU $OTHER_CPU%"
  sleep 1
  run_pgbench "$pg_script" "$DATA_DIR/pgbench-$pg_script-round$round.txt"
  [[ $PGB_FAILED -eq 0 ]] || die "pgbench reported $PGB_FAILED failed transactions for $pg_script"
  PGB_CMDS[$key]=$PGB_CMD
  PG_CPU[$key]+="$SERVER_CPU "
  OTHER_CPUS+=("$OTHER_CPU")
  log "round $round/$ROUNDS $key: PostGIS $PGB_TPS tps (mean latency $PGB_LAT_MS ms), server CPU $SERVER_CPU%, other CPU $OTHER_CPU%"
  PG[$key]+="$PGB_TPS "
  RATIOS[$key]+="$(ratio "$WRK_RPS" "$PGB_TPS") "
}
print_table() {
  local key target met r
  printf '%-10s | %-25s | %-24s | %9s | %9s | %12s | %s\n' query "sportello req/s per round" \
    "PostGIS tps per round" "sportello" "PostGIS" "ratio" "target"
  printf '%-10s | %-25s | %-24s | %9s | %9s | %12s |\n' "" "" "" "median" "median" "sportello/PG"
  printf '%s\n' "-----------|---------------------------|--------------------------|-----------|-----------|--------------|-------------"
  for key in unfiltered filtered; do
    [[ $key == unfiltered ]] && target=8 || target=20
    # shellcheck disable=SC2086 # word splitting of the per-round lists is intended
    r=$(median ${RATIOS[$key]})
    met=$(awk -v r="$r" -v t="$target" 'BEGIN { print (r >= t ? "met" : "NOT met") }')
    # shellcheck disable=SC2086
    printf '%-10s | %-25s | %-24s | %9.0f | %9.0f | %11.1fx | >= %sx: %s\n' "$key" "$(fmt_int ${OURS[$key]})" \
      "$(fmt_int ${PG[$key]})" "$(median ${OURS[$key]})" "$(median ${PG[$key]})" "$r" "$target" "$met"
  done
  local ours_cpu pg_cpu worst
  # shellcheck disable=SC2086
  ours_cpu=$(median ${OURS_CPU[unfiltered]} ${OURS_CPU[filtered]})
  # shellcheck disable=SC2086
  pg_cpu=$(median ${PG_CPU[unfiltered]} ${PG_CPU[filtered]})
  echo "(medians over rounds; ratio: median of the per-round ratios; filtered = lang=ti / 'ti' = ANY(langs),"
  echo " 1 desk in 16; both: audience public, k = 10. Server CPU, % of one core, median over all runs:"
  echo " sportello $ours_cpu%, PostgreSQL $pg_cpu%)"
  worst=$(max "${OTHER_CPUS[@]}")
  if [[ $worst -gt 10 ]]; then
    echo "WARNING: other processes used up to ${worst}% of a core during the runs: these numbers are disturbed;"
    echo "         rerun on a quiet machine (nothing compiling or testing) before comparing them."
  fi
}

cleanup() {
  stop_client
  stop_server
  stop_postgres
}

main() {
  parse_args "$@"
  ensure_curl
  ensure_wrk
  command -v python3 >/dev/null 2>&1 || apt_install python3
  ensure_postgis
  build_release
  ensure_data "$COUNT" "$SEED"
  setup_pinning
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  start_postgres
  load_desks
  local plans same pgis_version
  plans=$(explain_plans)
  pgis_version=$(psql_bench -At -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ', PostGIS ' || postgis_lib_version()")
  start_server "$DATA_BUNDLE"
  same=$(compare_answers)
  check_quiet "$SERVER_PID" "$PG_PID"

  run_rounds
  stop_server
  stop_postgres

  {
    echo "sportello vs PostGIS, $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- src 2>/dev/null || echo ' (src modified)')"
    machine_line
    echo "desks: $COUNT (synth seed $SEED); $pgis_version"
    echo "$PIN_NOTE; $ROUNDS round(s) of ${DURATION}s per run, $CONNS connections, order: sportello nearest, PostGIS knn, sportello nearest lang=ti, PostGIS knn_ti"
    echo "PostgreSQL settings: $PG_SETTINGS"
    echo "$same"
    echo
    echo "$plans"
    echo
    print_table
    echo
    echo "commands:"
    echo "  $SERVER_CMD"
    echo "  $PG_START_CMD"
    local key
    for key in unfiltered filtered; do
      echo "  ${WRK_CMDS[$key]}"
      echo "  ${PGB_CMDS[$key]}"
    done
  } | tee "$RESULTS_FILE"
  log "results written to $RESULTS_FILE"
}

main "$@"
