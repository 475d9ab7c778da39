#!/usr/bin/env bash
# Garbage collection at scale (issue 16): a registry in embedded mode seeded with 100,000 tiny
# blobs in 10,000 repositories (a tenth of them garbage), aged past the grace period; one
# collection's duration, figures, peak RSS and bytes on disk before and after; then push
# throughput without and with a collection running, alternating rounds in the same run.
# Writes docs/benchmarks-gc.md.
#
#   bench/gc.sh [--quick] [--repositories N] [--rounds N]
#
#   --quick           1,000 repositories and short rounds, for trying the script out (writes to bench/results/)
#   --repositories N  a smaller (or larger) seed than the default 10,000, for iterating (writes to bench/results/)
#   --rounds N        push rounds of each kind (default 5)
#   --duty-cycle X    Registry:GarbageCollection:DutyCycle for the registry (default: the registry's, 0.2;
#                     1 collects without pauses, as before pacing existed; writes to bench/results/)
#
# SKIP_BUILD=1 uses the last publish in bench/out/registry as it is (or REGISTRY_DLL=path, e.g. a plain build).
# The registry listens on a free 127.0.0.1 port with a fresh temporary data directory; it is
# stopped and its data removed when the script exits, however it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ARGS=()
REGISTRY_ARGS=()
OUT="$ROOT/docs/benchmarks-gc.md"
COMMAND="bench/gc.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ARGS+=(--repositories 1000 --rounds 1 --pushes 16); mkdir -p "$ROOT/bench/results"; OUT="$ROOT/bench/results/benchmarks-gc-quick.md" ;;
    --repositories) [ $# -ge 2 ] || { echo "--repositories needs a number" >&2; exit 64; }
      ARGS+=(--repositories "$2"); mkdir -p "$ROOT/bench/results"; OUT="$ROOT/bench/results/benchmarks-gc-$2.md"; shift ;;
    --rounds) [ $# -ge 2 ] || { echo "--rounds needs a number" >&2; exit 64; }
      ARGS+=(--rounds "$2"); shift ;;
    --duty-cycle) [ $# -ge 2 ] || { echo "--duty-cycle needs a number" >&2; exit 64; }
      REGISTRY_ARGS+=(--Registry:GarbageCollection:DutyCycle="$2"); mkdir -p "$ROOT/bench/results"; OUT="${OUT%.md}-duty$2.md"
      OUT="$ROOT/bench/results/$(basename "$OUT")"; shift ;;
    *) echo "usage: bench/gc.sh [--quick] [--repositories N] [--rounds N] [--duty-cycle X]" >&2; exit 64 ;;
  esac
  shift
done

# shellcheck source=bench/common.sh
source bench/common.sh
registry_and_bench

WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-gc-bench.XXXXXX")"
REGISTRY_PID=""
cleanup() {
  local status=$?
  stop "$REGISTRY_PID"
  mkdir -p "$ROOT/bench/results"
  cp "$WORK/registry.log" "$ROOT/bench/results/gc-registry.log" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(dotnet "$BENCH_DLL" free-port)"
DATA="$WORK/data"
# On demand only (no scheduled run in the middle), the defaults otherwise (48 h grace period, no policies).
DOTNET_gcServer=0 dotnet "$REGISTRY_DLL" --Registry:DataDirectory="$DATA" --Registry:Listen="http://127.0.0.1:$PORT" \
  --Registry:Access:Enabled=false --Registry:GarbageCollection:Interval=00:00:00 \
  --Logging:LogLevel:Default=Warning ${REGISTRY_ARGS[@]+"${REGISTRY_ARGS[@]}"} >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
wait_ready registry "$PORT" "$REGISTRY_PID" 90

warn_if_loaded
log "registry pid $REGISTRY_PID on :$PORT; seeding and collecting"
dotnet "$BENCH_DLL" gc --url "http://127.0.0.1:$PORT" --pid "$REGISTRY_PID" --data "$DATA" \
  --out "$OUT" --command "$COMMAND" ${ARGS[@]+"${ARGS[@]}"}
log "done: $OUT"
