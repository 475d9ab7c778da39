#!/usr/bin/env bash
# Memory under concurrent slow pulls and pushes (issue 13, item 2), and Azure-mode push throughput
# (item 6), against a registry process in each mode on this machine.
#
#   bash bench/memory.sh [memory|push] [embedded|cluster|both]
#
#   memory (default): 256 slow pulls of a 64 MiB blob (256 KiB/s each) and 16 concurrent pushes of
#                     32 MiB blobs for 60 s; prints the registry's RSS before and its peak (VmHWM).
#   push:             16 × 64 MiB monolithic pushes, 4 at a time, in cluster mode (Azurite), three
#                     times; prints MB/s and latencies.
#
# Settings can be changed through MEMORY_ARGS (passed to `Registry.Bench memory`), e.g.
# MEMORY_ARGS="--seconds 20" for a quick try; SKIP_BUILD=1 runs the last build again (REGISTRY_DLL=path
# to run another build of the registry). The registry runs from a Release publish, as the
# container image runs it, with the container's defaults (Server GC off, as in deploy/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHAT="${1:-memory}"
MODES="${2:-both}"
[[ "$WHAT" == memory || "$WHAT" == push ]] || { echo "usage: bash bench/memory.sh [memory|push] [embedded|cluster|both]" >&2; exit 64; }
[[ "$WHAT" == push ]] && MODES=cluster

# shellcheck source=bench/common.sh
source bench/common.sh
if [[ -n "${SKIP_BUILD:-}" ]]; then
  # The last build as it is; REGISTRY_DLL may name a plain build (Api/bin/Release/...) instead of the publish.
  REGISTRY_DLL="${REGISTRY_DLL:-$ROOT/bench/out/registry/Registry.Api.dll}"
  BENCH_DLL="$ROOT/bench/Registry.Bench/bin/Release/net10.0/Registry.Bench.dll"
else
  build_registry_and_bench
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-memory.XXXXXX")"
AZURITE_PID=""
REGISTRY_PID=""
cleanup() {
  local status=$?
  stop "$REGISTRY_PID"
  stop "$AZURITE_PID"
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { dotnet "$BENCH_DLL" free-port; }

start_azurite() {
  BLOB_PORT="$(free_port)"; QUEUE_PORT="$(free_port)"; TABLE_PORT="$(free_port)"
  mkdir -p "$WORK/azurite"
  tools/azurite/node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --disableTelemetry \
    --location "$WORK/azurite" --blobHost 127.0.0.1 --blobPort "$BLOB_PORT" --queueHost 127.0.0.1 \
    --queuePort "$QUEUE_PORT" --tableHost 127.0.0.1 --tablePort "$TABLE_PORT" >"$WORK/azurite.log" 2>&1 &
  AZURITE_PID=$!
  for port in "$BLOB_PORT" "$QUEUE_PORT" "$TABLE_PORT"; do
    for _ in $(seq 1 120); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.5
    done
  done
  KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="   # Azurite's public development key
  CONNECTION="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$KEY;BlobEndpoint=http://127.0.0.1:$BLOB_PORT/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$QUEUE_PORT/devstoreaccount1;TableEndpoint=http://127.0.0.1:$TABLE_PORT/devstoreaccount1;"
}

# Starts one registry process in mode $1 and waits until it is ready; sets REGISTRY_PID and URL.
start_registry() {
  local mode="$1" http silo name
  http="$(free_port)"; silo="$(free_port)"; name="mem-$(date +%H%M%S)-$RANDOM"
  if [[ "$mode" == cluster ]]; then
    [[ -n "$AZURITE_PID" ]] || start_azurite
    Registry__Mode=Cluster Registry__Azure__ConnectionString="$CONNECTION" Registry__Azure__Container="$name" \
    Registry__Cluster__ClusterId="$name" Registry__Cluster__ServiceId="$name" \
    Registry__Cluster__AdvertisedAddress=127.0.0.1 Registry__Cluster__SiloPort="$silo" \
    Registry__Listen="http://127.0.0.1:$http" Registry__Access__Enabled=false Logging__LogLevel__Default=Warning DOTNET_gcServer=0 \
      dotnet "$REGISTRY_DLL" >"$WORK/registry.log" 2>&1 &
  else
    Registry__DataDirectory="$WORK/data-$name" Registry__Listen="http://127.0.0.1:$http" Registry__Access__Enabled=false \
    Logging__LogLevel__Default=Warning DOTNET_gcServer=0 \
      dotnet "$REGISTRY_DLL" >"$WORK/registry.log" 2>&1 &
  fi
  REGISTRY_PID=$!
  URL="http://127.0.0.1:$http"
  for _ in $(seq 1 180); do
    kill -0 "$REGISTRY_PID" 2>/dev/null || { tail -n 30 "$WORK/registry.log" >&2; exit 1; }
    curl -fsS -o /dev/null --max-time 2 "$URL/readyz" 2>/dev/null && return 0
    sleep 0.5
  done
  log "the registry was not ready at $URL within 90 s"; exit 1
}

STATUS=0
if [[ "$WHAT" == memory ]]; then
  echo "| Mode | Load | RSS before (MiB) | Peak RSS, VmHWM (MiB) | Peak sampled RSS (MiB) | Pulled (MB/s) | Pushes | Errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for mode in embedded cluster; do
    [[ "$MODES" == both || "$MODES" == "$mode" ]] || continue
    start_registry "$mode"
    log "$mode: registry pid $REGISTRY_PID at $URL; running the load"
    # shellcheck disable=SC2086
    printf '| %s ' "$mode"
    dotnet "$BENCH_DLL" memory --url "$URL" --pid "$REGISTRY_PID" ${MEMORY_ARGS:-} || STATUS=$?
    stop "$REGISTRY_PID"; REGISTRY_PID=""
  done
else
  start_registry cluster
  log "cluster: registry pid $REGISTRY_PID at $URL; pushing"
  echo "| Pushes | Throughput | p50 | max |"
  echo "|---|---:|---:|---:|"
  for _ in 1 2 3; do
    dotnet "$BENCH_DLL" push-throughput --url "$URL" ${PUSH_ARGS:-} || STATUS=$?
  done
fi
exit "$STATUS"
