#!/usr/bin/env bash
# Memory and start-up of `serve` on one bundle: start to /readyz, and the resident memory from
# /proc/PID/status (VmRSS, and its anonymous and file-backed parts) once ready and after 800
# scattered requests (nearest with a browser's Accept-Encoding, and viewports). Several binaries
# are measured alternately, so drift of a shared machine hits each alike.
# Usage: benches/memory.sh BUNDLE_DIR BINARY [BINARY...] [--runs N]   (default 3 runs each)
# Example: benches/memory.sh target/bench-data/bundle-n1000000-s1 /tmp/sportello-old target/release/sportello
set -euo pipefail
runs=3
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) runs=${2:?--runs needs a value}; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ ${#args[@]} -ge 2 ]] || { sed -n '2,7p' "$0"; exit 2; }
bundle=${args[0]}
bins=("${args[@]:1}")
port=$((20000 + RANDOM % 20000))

memory() { grep -E '^(VmRSS|RssAnon|RssFile):' "/proc/$1/status" | awk '{printf "%s %d MB  ", $1, $2 / 1024}'; }

for ((run = 1; run <= runs; run++)); do
  for bin in "${bins[@]}"; do
    start=$(date +%s.%N)
    "$bin" serve --bundle "$bundle" --listen "127.0.0.1:$port" --rate-limit 0 >/dev/null 2>&1 &
    pid=$!
    for ((i = 0; i < 3000; i++)); do
      curl -sf "127.0.0.1:$port/readyz" >/dev/null && break
      kill -0 "$pid" 2>/dev/null || { echo "$bin: serve exited" >&2; exit 1; }
      sleep 0.02
    done
    ready=$(echo "$(date +%s.%N) - $start" | bc)
    echo "run $run $bin: ready in ${ready:0:5} s: $(memory "$pid")"
    if [[ $run == "$runs" ]]; then
      for ((j = 0; j < 400; j++)); do
        lat=$((36 + RANDOM % 24)) lon=$((RANDOM % 30 - 5))
        curl -sf -o /dev/null -H 'accept-encoding: gzip, deflate, br, zstd' "127.0.0.1:$port/api/v1/nearest?lat=$lat.5&lon=$lon.5&k=10"
        curl -sf -o /dev/null "127.0.0.1:$port/api/v1/points?bbox=$lon,$lat,$((lon + 1)),$((lat + 1))&zoom=9"
      done
      echo "run $run $bin: after 800 requests: $(memory "$pid")"
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
