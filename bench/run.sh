#!/usr/bin/env bash
# Benchmarks this registry against the reference registry (CNCF distribution 2.8.2, Debian
# package docker-registry) on this machine and writes docs/benchmarks.md.
#
#   bench/run.sh [--big] [--quick]
#
#   --big    adds a 2 GiB push/pull to the run against this registry
#   --quick  small sizes and short windows, for trying the script out (not for the docs)
#
# Both registries listen on free 127.0.0.1 ports with fresh temporary data directories,
# and are stopped (and their data removed) when the script exits, however it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIG=()
QUICK=()
for arg in "$@"; do
  case "$arg" in
    --big) BIG=(--big) ;;
    --quick) QUICK=(--quick) ;;
    *) echo "usage: bench/run.sh [--big] [--quick]" >&2; exit 64 ;;
  esac
done
COMMAND="bench/run.sh${*:+ $*}"

# shellcheck source=bench/common.sh
source bench/common.sh

# --- the reference registry -------------------------------------------------------------
install_reference_registry

# --- build ------------------------------------------------------------------------------
build_registry_and_bench

# --- start both registries --------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-bench.XXXXXX")"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
OURS_PID=""
REF_PID=""

cleanup() {
  local status=$?
  log "stopping both registries"
  stop "$OURS_PID"
  stop "$REF_PID"
  cp "$WORK"/*.log "$RESULTS"/ 2>/dev/null || true
  # Deleting the reference's ~50,000 tag directories and GBs of blobs can take minutes on a
  # busy disk: do it at idle priority in the background rather than hold up the result.
  log "registries stopped; removing $WORK in the background"
  local idle=()
  if command -v ionice >/dev/null 2>&1; then idle=(ionice -c3); fi
  nohup nice -n 19 "${idle[@]}" rm -rf "$WORK" >/dev/null 2>&1 &
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

OURS_PORT="$(dotnet "$BENCH_DLL" free-port)"
REF_PORT="$(dotnet "$BENCH_DLL" free-port)"
while [ "$REF_PORT" = "$OURS_PORT" ]; do REF_PORT="$(dotnet "$BENCH_DLL" free-port)"; done
mkdir -p "$WORK/ours" "$WORK/reference"

# Logging: request logging off on both sides. The reference logs errors only with its access
# log disabled; ours logs warnings and above (no per-request lines, no per-push lines).
OURS_LOGGING=(--Logging:LogLevel:Default=Warning)
log "starting this registry on 127.0.0.1:$OURS_PORT"
dotnet "$REGISTRY_DLL" \
  --Registry:DataDirectory="$WORK/ours" \
  --Registry:Listen="http://127.0.0.1:$OURS_PORT" \
  --Registry:Access:Enabled=false \
  "${OURS_LOGGING[@]}" >"$WORK/ours.log" 2>&1 &
OURS_PID=$!

log "starting the reference registry $REFERENCE_VERSION on 127.0.0.1:$REF_PORT"
start_reference_registry reference "$REF_PORT"
REF_PID=$STARTED_PID

wait_ready ours "$OURS_PORT" "$OURS_PID"
wait_ready reference "$REF_PORT" "$REF_PID"

# --- run --------------------------------------------------------------------------------
# The phases are interleaved (this registry, then the reference, group by group, alternating
# who goes first) so that both meet the same machine conditions; each side's invocations are
# merged into one result file (--append). VmHWM is the process's peak, so the peak RSS of the
# last invocation covers the whole run.
warn_if_loaded
rm -f "$RESULTS/ours.json" "$RESULTS/reference.json" "$RESULTS/ours.md" "$RESULTS/reference.md"
STATUS=0
bench_ours() {
  log "this registry: $1"
  dotnet "$BENCH_DLL" --url "http://127.0.0.1:$OURS_PORT" --pid "$OURS_PID" --json "$RESULTS/ours.json" --append \
    --only "$1" "${QUICK[@]}" "${@:2}" | tee -a "$RESULTS/ours.md" || STATUS=$?
}
bench_reference() {
  log "reference: $1"
  dotnet "$BENCH_DLL" --url "http://127.0.0.1:$REF_PORT" --pid "$REF_PID" --json "$RESULTS/reference.json" --append \
    --only "$1" "${QUICK[@]}" | tee -a "$RESULTS/reference.md" || STATUS=$?
}
# The ceiling for a push acknowledged only once durable: 256 MiB written with direct I/O and
# fsynced, to fresh files on the data directories' filesystem, three times, right before the
# first push runs. The files stay until the cleanup (deleting them now would make the disk
# discard their blocks while the pushes run).
disk_probe() {
  local rates=() out secs
  sync
  for i in 1 2 3; do
    out="$(LC_ALL=C dd if=/dev/zero of="$WORK/disk-probe-$i" bs=4M count=64 oflag=direct conv=fsync 2>&1 | tail -n 1)" || return 0
    secs="$(sed -n 's/.* copied, \([0-9.]*\) s,.*/\1/p' <<<"$out")"
    if [ -n "$secs" ]; then rates+=("$(awk -v s="$secs" 'BEGIN { printf "%.0f", 268.435456 / s }')"); fi
  done
  local IFS=,
  echo "${rates[*]}"
}
DISK_MBPS="$(disk_probe)"
log "disk: dd wrote 256 MiB durably at ${DISK_MBPS:-(not measured)} MB/s"

FIRST=ours
for GROUP in push-monolithic,push-single-post push-chunked,pull manifest-get tags-list; do
  if [ "$FIRST" = ours ]; then
    bench_ours "$GROUP"; bench_reference "$GROUP"; FIRST=reference
  else
    bench_reference "$GROUP"; bench_ours "$GROUP"; FIRST=ours
  fi
done
if [ ${#BIG[@]} -gt 0 ]; then
  bench_ours big --big
fi

OURS_SETUP="this repository at commit \`$(git rev-parse --short HEAD)\`, published for \`$RID\` (Release, ReadyToRun, framework-dependent, as in the container image), run as \`dotnet bench/out/registry/Registry.Api.dll --Registry:DataDirectory=<fresh temp dir> --Registry:Listen=http://127.0.0.1:<port> --Registry:Access:Enabled=false --Logging:LogLevel:Default=Warning\` (embedded mode: co-hosted silo, filesystem blobs, file grain state; runtime settings of Api/Api.csproj: workstation concurrent GC, 8 MiB gen0 budget, no tiered PGO, re-JIT after 1,000 calls instead of 30, no thread-pool spinning). Logging: warnings and above to stdout redirected to a file; no request log."
REF_SETUP="CNCF distribution $REFERENCE_VERSION (Debian package \`docker-registry\`), \`docker-registry serve config.yml\` with \`version: 0.1\`, \`storage.filesystem.rootdirectory\` = fresh temp dir, \`storage.delete.enabled: true\`, \`http.addr\` = 127.0.0.1:<port>, \`log.level: error\`, \`log.accesslog.disabled: true\`, nothing else (in particular no \`storage.cache\`, so no in-memory blob-descriptor cache). Logging: errors only to stdout redirected to a file; no access log."
# The neutral-client section (bench/neutral.sh) has a script of its own: kept as it is.
NEUTRAL_SECTION="$(neutral_section "$ROOT/docs/benchmarks.md")"
dotnet "$BENCH_DLL" report --ours "$RESULTS/ours.json" --reference "$RESULTS/reference.json" \
  --out "$ROOT/docs/benchmarks.md" --command "$COMMAND" \
  --ours-setup "$OURS_SETUP" --reference-setup "$REF_SETUP" --disk-mbps "$DISK_MBPS"
if [ -n "$NEUTRAL_SECTION" ]; then printf '\n%s\n' "$NEUTRAL_SECTION" >>"$ROOT/docs/benchmarks.md"; fi
log "done: docs/benchmarks.md (raw results in bench/results/)"
exit "$STATUS"
