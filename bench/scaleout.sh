#!/usr/bin/env bash
# Scale-out benchmark: the same load against 1 and against 3 cluster-mode registry processes
# sharing one Azurite, and the cost of a cross-silo grain call on the request path. Writes
# docs/benchmarks-scaleout.md.
#
#   bench/scaleout.sh [--quick]
#
#   --quick  short windows and few requests, for trying the script out (not for the docs)
#   --create-only  only the repository creation phase (repo-create), printed and kept in
#                  bench/results/scaleout-create-*.md; docs/benchmarks-scaleout.md is left alone
#
# Azurite listens on free 127.0.0.1 ports with a temporary directory; each run gets its own
# cluster id, service id and container name, so the runs share nothing in it. Registry processes
# are started as scripts/cluster.sh and the cluster tests start them. Everything is stopped and
# the temporary directory removed when the script exits, however it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=()
CREATE_ONLY=""
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK+=(--quick) ;;
    --create-only) CREATE_ONLY=1; QUICK+=(--create-only) ;;
    *) echo "usage: bench/scaleout.sh [--quick] [--create-only]" >&2; exit 64 ;;
  esac
done
COMMAND="bench/scaleout.sh${*:+ $*}"
REPLICAS=3

# shellcheck source=bench/common.sh
source bench/common.sh

if [ ! -x tools/azurite/node_modules/.bin/azurite ]; then
  log "installing Azurite (tools/azurite)"
  npm ci --prefix tools/azurite --no-audit --no-fund --loglevel=error
fi

# --- build ------------------------------------------------------------------------------
build_registry_and_bench

# --- processes and cleanup --------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-scaleout.XXXXXX")"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
AZURITE_PID=""
REGISTRY_PIDS=()
BENCH_PID=""

stop_registries() {
  local pid
  for pid in "${REGISTRY_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${REGISTRY_PIDS[@]}"; do stop "$pid"; done
  REGISTRY_PIDS=()
}
cleanup() {
  local status=$?
  log "stopping the registry processes and Azurite"
  stop "$BENCH_PID"
  stop_registries
  stop "$AZURITE_PID"
  cp "$WORK"/*.log "$RESULTS"/ 2>/dev/null || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { dotnet "$BENCH_DLL" free-port; }
USED_PORTS=" "
unique_port() {
  local port
  port="$(free_port)"
  while [[ "$USED_PORTS" == *" $port "* ]]; do port="$(free_port)"; done
  USED_PORTS+="$port "
  echo "$port"
}

# --- Azurite ----------------------------------------------------------------------------
BLOB_PORT="$(unique_port)"; QUEUE_PORT="$(unique_port)"; TABLE_PORT="$(unique_port)"
mkdir -p "$WORK/azurite"
log "starting Azurite on 127.0.0.1:$BLOB_PORT (blob), :$QUEUE_PORT (queue), :$TABLE_PORT (table), data in $WORK/azurite"
tools/azurite/node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --disableTelemetry \
  --location "$WORK/azurite" \
  --blobHost 127.0.0.1 --blobPort "$BLOB_PORT" --queueHost 127.0.0.1 --queuePort "$QUEUE_PORT" \
  --tableHost 127.0.0.1 --tablePort "$TABLE_PORT" >"$WORK/azurite.log" 2>&1 &
AZURITE_PID=$!
for port in "$BLOB_PORT" "$QUEUE_PORT" "$TABLE_PORT"; do
  for _ in $(seq 1 120); do
    kill -0 "$AZURITE_PID" 2>/dev/null || { log "Azurite exited during start-up:"; tail -n 20 "$WORK/azurite.log" >&2; exit 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.5
  done
done
KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="   # Azurite's public development key
CONNECTION="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$KEY;BlobEndpoint=http://127.0.0.1:$BLOB_PORT/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$QUEUE_PORT/devstoreaccount1;TableEndpoint=http://127.0.0.1:$TABLE_PORT/devstoreaccount1;"

# --- one run: N processes of a fresh cluster, the load, stop --------------------------------
STATUS=0
run() {
  local count="$1" label="$2" json="$3"
  local cluster
  cluster="so${count}-$(date +%H%M%S)-$RANDOM"   # also the container name: lowercase, digits, hyphens
  local urls=() pids=() i http silo
  for i in $(seq 1 "$count"); do
    http="$(unique_port)"; silo="$(unique_port)"
    Registry__Mode=Cluster \
    Registry__Listen="http://127.0.0.1:$http" \
    Registry__Access__Enabled=false \
    Registry__Azure__ConnectionString="$CONNECTION" \
    Registry__Azure__Container="$cluster" \
    Registry__Cluster__ClusterId="$cluster" \
    Registry__Cluster__ServiceId="$cluster" \
    Registry__Cluster__AdvertisedAddress=127.0.0.1 \
    Registry__Cluster__SiloPort="$silo" \
    Logging__LogLevel__Default=Warning \
    Logging__LogLevel__Orleans=Warning \
      dotnet "$REGISTRY_DLL" >"$WORK/$cluster-$i.log" 2>&1 &
    REGISTRY_PIDS+=($!)
    pids+=(--pid $!)
    urls+=(--url "http://127.0.0.1:$http")
    log "$label: process $i (pid $!) on 127.0.0.1:$http, silo port $silo, cluster $cluster"
  done
  local n=0 url
  for ((n = 0; n < count; n++)); do
    url="${urls[$((2 * n + 1))]}"
    local ready=""
    for _ in $(seq 1 180); do
      if ! kill -0 "${REGISTRY_PIDS[$n]}" 2>/dev/null; then
        log "process $((n + 1)) exited during start-up:"; tail -n 30 "$WORK/$cluster-$((n + 1)).log" >&2; exit 1
      fi
      if curl -fsS -o /dev/null --max-time 2 "$url/readyz" 2>/dev/null; then ready=1; break; fi
      sleep 0.5
    done
    [ -n "$ready" ] || { log "process $((n + 1)) was not ready at $url within 90 s"; exit 1; }
  done
  # Every silo answers /readyz once it is Active itself; give the last joiner's membership gossip
  # a moment to reach the others before the load starts.
  sleep 3
  local load
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  if awk -v l="${load%% *}" -v c="$(nproc)" 'BEGIN { exit !(l > c / 2) }'; then
    log "WARNING: load average $load on $(nproc) CPUs: other work on this machine will disturb the figures"
  fi
  log "$label: running the load"
  # In the background and waited for: a signal then runs the trap at once (bash defers traps
  # while a foreground command runs, and goes on after Ctrl+C if that command handled it).
  dotnet "$BENCH_DLL" scaleout "${urls[@]}" "${pids[@]}" --storage-pid "$AZURITE_PID" --label "$label" \
    --json "$json" "${QUICK[@]}" >"${json%.json}.md" &
  BENCH_PID=$!
  wait "$BENCH_PID" || STATUS=$?
  BENCH_PID=""
  cat "${json%.json}.md"
  stop_registries
}

if [ -n "$CREATE_ONLY" ]; then
  run 1 "1 process" "$RESULTS/scaleout-create-1.json"
  run "$REPLICAS" "$REPLICAS processes" "$RESULTS/scaleout-create-$REPLICAS.json"
  log "done: bench/results/scaleout-create-1.md, scaleout-create-$REPLICAS.md"
  exit "$STATUS"
fi

rm -f "$RESULTS/scaleout-1.json" "$RESULTS/scaleout-$REPLICAS.json"
run 1 "1 process" "$RESULTS/scaleout-1.json"
run "$REPLICAS" "$REPLICAS processes" "$RESULTS/scaleout-$REPLICAS.json"

SETUP="This repository at commit \`$(git rev-parse --short HEAD)\`, Release build; Azurite $(node -p "require('./tools/azurite/node_modules/azurite/package.json').version" 2>/dev/null || echo '?') (\`tools/azurite\`) with \`--location <temp dir> --skipApiVersionCheck --loose\` (disk persistence in the temp directory)."
dotnet "$BENCH_DLL" scaleout-report --one "$RESULTS/scaleout-1.json" --three "$RESULTS/scaleout-$REPLICAS.json" \
  --out "$ROOT/docs/benchmarks-scaleout.md" --command "$COMMAND" --setup "$SETUP"
log "done: docs/benchmarks-scaleout.md (raw results in bench/results/)"
exit "$STATUS"
