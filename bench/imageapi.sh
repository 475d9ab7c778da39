#!/usr/bin/env bash
# The image API under load (issue 15): GET of a stream with 100 tags × 100 history items, the walk
# of 10,000 streams in pages (across namespaces and in one), the fan-out of pushes to 100
# watchers, and /v2 manifest GET alone against the same while the image API serves (alternating
# rounds of one run, target ≥ 0.95×). Writes docs/benchmarks-image-api.md.
#
#   bench/imageapi.sh [--quick] [--access-off]
#
#   --quick       fewer streams, watchers and shorter windows, for trying the script out
#   --access-off  the registry with access control off (default: on, the admin's bearer token)
#
# SKIP_BUILD=1 uses the last publish in bench/out/registry as it is (or REGISTRY_DLL=path, e.g. a
# plain build). The registry listens on a free 127.0.0.1 port with a fresh temporary data
# directory; it is stopped and its data removed when the script exits, however it exits.
# Bounded: about 6 minutes on 2 busy cores, plus the build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=()
ACCESS=on
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=(--quick) ;;
    --access-off) ACCESS=off ;;
    *) echo "usage: bench/imageapi.sh [--quick] [--access-off]" >&2; exit 64 ;;
  esac
done
COMMAND="bench/imageapi.sh${*:+ $*}"

# shellcheck source=bench/common.sh
source bench/common.sh

registry_and_bench

WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-imageapi-bench.XXXXXX")"
PID=""
cleanup() {
  local status=$?
  log "stopping the registry"
  stop "$PID"
  mkdir -p "$ROOT/bench/results"
  cp "$WORK"/*.log "$ROOT/bench/results/" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(dotnet "$BENCH_DLL" free-port)"
SETTINGS=(--Registry:DataDirectory="$WORK/data" --Registry:Listen="http://127.0.0.1:$PORT" --Logging:LogLevel:Default=Warning)
CREDENTIALS=()
if [ "$ACCESS" = on ]; then
  umask 077
  head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$WORK/password"
  CREDENTIALS=(--user admin --password-file "$WORK/password")
  log "starting the registry on 127.0.0.1:$PORT, access control on"
  # The admin password from the environment, not the command line (which any user may read in ps).
  Registry__Access__AdminPassword="$(cat "$WORK/password")" dotnet "$REGISTRY_DLL" "${SETTINGS[@]}" --Registry:Access:Enabled=true >"$WORK/imageapi.log" 2>&1 &
else
  log "starting the registry on 127.0.0.1:$PORT, access control off"
  dotnet "$REGISTRY_DLL" "${SETTINGS[@]}" --Registry:Access:Enabled=false >"$WORK/imageapi.log" 2>&1 &
fi
PID=$!

wait_ready imageapi "$PORT" "$PID"

warn_if_loaded

SETUP="This registry: commit \`$(git rev-parse --short HEAD)\`, \`dotnet ${REGISTRY_DLL#"$ROOT"/}\` (embedded mode: co-hosted silo, filesystem blobs, file grain state), one process, \`--Registry:Access:Enabled=$([ "$ACCESS" = on ] && echo true || echo false)\`$([ "$ACCESS" = on ] && echo ' with the admin password from `Registry__Access__AdminPassword`'), warnings-only logging, every other setting at its default (\`Registry:Limits:MaxPageSize\` 10,000)."
log "running the image API benchmark"
dotnet "$BENCH_DLL" image-api "${QUICK[@]}" --url "http://127.0.0.1:$PORT" --pid "$PID" "${CREDENTIALS[@]}" \
  --out "$ROOT/docs/benchmarks-image-api.md" --command "$COMMAND" --setup "$SETUP"
log "done: docs/benchmarks-image-api.md"
