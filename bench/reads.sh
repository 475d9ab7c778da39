#!/usr/bin/env bash
# Blob GETs only, with curl, against this registry and the reference registry in the same run:
# a quick probe of the read path (bench/neutral.sh measures the whole picture). One blob is
# pushed to each; then, in rounds that alternate who goes first, each registry serves it
#
# - cold: its file evicted from the page cache first (as after a push written with direct I/O,
#   or when memory was needed meanwhile), and
# - warm: right after, from the page cache;
#
# and the server process's CPU time (user + system, from /proc/PID/stat) is taken around each
# GET, so that a figure per GiB served exists beside the wall time, which a shared machine blurs.
#
#   bench/reads.sh [--rounds N] [--size-mib M] [--warm-gets K] [--write-mode Cached|Direct] [--dll PATH] [--base-dll PATH [--base-args ARGS]]
#
#   --rounds N       rounds (default 7, at least 3; the figures are medians)
#   --size-mib M     blob size (default 256)
#   --warm-gets K    warm GETs per round and registry (default 3)
#   --write-mode W   this registry's Registry:Uploads:WriteMode (default Direct)
#   --dll PATH       the Registry.Api.dll to run (default: the Release build output, built if missing)
#   --base-dll PATH  another build of this registry to run beside it, as "base" (an A/B of a change)
#   --base-args ARGS more command-line settings for "base" only (an A/B of a setting: with --base-dll
#                    the same as --dll)
#
# Prints a table and leaves the raw figures in bench/results/reads.tsv. Loopback only; about a
# minute per round at the default size on a quiet 2-core machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS=7
SIZE_MIB=256
WARM_GETS=3
WRITE_MODE=Direct
DLL="$ROOT/Api/bin/Release/net10.0/Registry.Api.dll"
BASE_DLL=
BASE_ARGS=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --size-mib) SIZE_MIB="$2"; shift 2 ;;
    --warm-gets) WARM_GETS="$2"; shift 2 ;;
    --write-mode) WRITE_MODE="$2"; shift 2 ;;
    --dll) DLL="$2"; shift 2 ;;
    --base-dll) BASE_DLL="$2"; shift 2 ;;
    --base-args) BASE_ARGS="$2"; shift 2 ;;
    *) echo "usage: bench/reads.sh [--rounds N] [--size-mib M] [--warm-gets K] [--write-mode Cached|Direct] [--dll PATH] [--base-dll PATH [--base-args ARGS]]" >&2; exit 64 ;;
  esac
done
if [ "$ROUNDS" -lt 3 ]; then echo "--rounds: at least 3 (the figures are medians)" >&2; exit 64; fi
SIZE=$((SIZE_MIB * 1024 * 1024))

# shellcheck source=bench/common.sh
source bench/common.sh
install_reference_registry
[ -f "$DLL" ] || dotnet build -c Release Api/Api.csproj -nologo -v quiet

WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-reads.XXXXXX")"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
declare -A PORT PID URL
cleanup() {
  local status=$?
  for t in "${!PID[@]}"; do stop "${PID[$t]:-}"; done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
TARGETS=(ours reference)
[ -z "$BASE_DLL" ] || TARGETS=(ours base reference)
for t in "${TARGETS[@]}"; do
  PORT[$t]="$(free_port)"
  URL[$t]="http://127.0.0.1:${PORT[$t]}"
done
start_ours() {
  mkdir -p "$WORK/$1"
  dotnet "$2" --Registry:DataDirectory="$WORK/$1" --Registry:Listen="${URL[$1]}" \
    --Registry:Access:Enabled=false --Registry:Uploads:WriteMode="$WRITE_MODE" \
    --Logging:LogLevel:Default=Warning "${@:3}" >"$WORK/$1.log" 2>&1 &
  PID[$1]=$!
}
start_ours ours "$DLL"
# shellcheck disable=SC2086 # BASE_ARGS is a list of settings
[ -z "$BASE_DLL" ] || start_ours base "$BASE_DLL" $BASE_ARGS
start_reference_registry reference "${PORT[reference]}"
PID[reference]=$STARTED_PID
for t in "${TARGETS[@]}"; do
  for _ in $(seq 1 1200); do
    curl -fsS -o /dev/null --max-time 2 "${URL[$t]}/v2/" 2>/dev/null && break
    kill -0 "${PID[$t]}" 2>/dev/null || { log "$t exited:"; tail -n 20 "$WORK/$t.log" >&2; exit 1; }
    sleep 0.05
  done
done

REPO=bench/reads
push() {
  local location sep
  location="$(curl -fsS -X POST -o /dev/null -D - "$1/v2/$REPO/blobs/uploads/" | awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')"
  case "$location" in /*) location="$1$location" ;; esac
  case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
  curl -fsS -X PUT -o /dev/null -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$location${sep}digest=$3"
}
blob="$WORK/blob"
head -c "$SIZE" /dev/urandom >"$blob"
digest="sha256:$(sha256sum "$blob" | cut -d' ' -f1)"
hex="${digest#sha256:}"
rm -f "$blob"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$WORK/warm-up"
warm_digest="sha256:$(sha256sum "$WORK/warm-up" | cut -d' ' -f1)"
for t in "${TARGETS[@]}"; do
  push "${URL[$t]}" "$WORK/warm-up" "$warm_digest"
  for _ in 1 2 3 4 5; do curl -fsS -o /dev/null "${URL[$t]}/v2/$REPO/blobs/$warm_digest"; done
done
head -c "$SIZE" /dev/urandom >"$blob"
digest="sha256:$(sha256sum "$blob" | cut -d' ' -f1)"
hex="${digest#sha256:}"
declare -A FILE
for t in "${TARGETS[@]}"; do push "${URL[$t]}" "$blob" "$digest"; done
rm -f "$blob"
for t in "${TARGETS[@]}"; do
  case "$t" in
    reference) FILE[$t]="$(find "$WORK/$t" -path "*/blobs/sha256/*/$hex/data" -type f | head -n 1)" ;;
    *) FILE[$t]="$(find "$WORK/$t" -path "*/sha256/*" -name "$hex" -type f | head -n 1)" ;;
  esac
done
for t in "${TARGETS[@]}"; do [ -f "${FILE[$t]}" ] || { log "$t: the blob's file was not found"; exit 1; }; done

# Drops a file's pages from the page cache (they are clean: both registries flushed them).
evict() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$1"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK="$(getconf CLK_TCK)"
RAW="$RESULTS/reads.tsv"
printf 'round\ttarget\tkind\tseconds\tcpu_seconds\tload\n' >"$RAW"
# One GET of the blob from $1, recorded as kind $3 of round $2.
get() {
  local before after code size secs
  before="$(cpu_ticks "${PID[$1]}")"
  read -r code size secs < <(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' "${URL[$1]}/v2/$REPO/blobs/$digest")
  after="$(cpu_ticks "${PID[$1]}")"
  [ "$code" = 200 ] && [ "$size" = "$SIZE" ] || { log "GET from $1: $code, $size bytes"; exit 1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$1" "$3" "$secs" "$(awk -v a="$before" -v b="$after" -v t="$TICK" 'BEGIN { print (b - a) / t }')" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"
}
log "load at start: $(uptime)"
n=${#TARGETS[@]}
for round in $(seq 1 "$ROUNDS"); do
  order=("${TARGETS[@]:$((round % n))}" "${TARGETS[@]:0:$((round % n))}")
  for t in "${order[@]}"; do
    evict "${FILE[$t]}"
    get "$t" "$round" cold
    for _ in $(seq 1 "$WARM_GETS"); do get "$t" "$round" warm; done
  done
done
log "load at end: $(uptime)"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mbps() { awk -F'\t' -v t="$1" -v k="$2" -v s="$SIZE" 'NR > 1 && $2 == t && $3 == k { printf "%.3f\n", s / 1e6 / $4 }' "$RAW" | median; }
cpu_per_gib() { awk -F'\t' -v t="$1" -v k="$2" -v s="$SIZE" 'NR > 1 && $2 == t && $3 == k { c += $5; n++ } END { printf "%.3f", c / n / (s / 1073741824) }' "$RAW"; }
# Median over rounds of (reference seconds / $2's seconds), each round's figure the median of its GETs of kind $1.
ratio() {
  awk -F'\t' -v k="$1" 'NR > 1 && $3 == k { print $1 "\t" $2 "\t" $4 }' "$RAW" | sort -k1,1n -k2,2 -k3,3g |
    awk -F'\t' -v t="$2" '{ key = $1 "\t" $2; v[key, ++n[key]] = $3; rounds[$1] = 1 }
      END { for (r in rounds) { o = r "\t" t; f = r "\treference"; if (!(o in n) || !(f in n)) continue
            mo = v[o, int((n[o] + 1) / 2)]; mf = v[f, int((n[f] + 1) / 2)]; printf "%.4f\n", mf / mo } }' |
    sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2fx (%.2f-%.2f)", m, v[1], v[NR] }'
}
printf '\n%-6s | %-9s | %8s | %22s | %10s\n' kind target "MB/s" "vs reference, per round" "CPU-s/GiB"
for k in cold warm; do
  for t in "${TARGETS[@]}"; do
    if [ "$t" = reference ]; then r=""; else r="$(ratio "$k" "$t")"; fi
    printf '%-6s | %-9s | %8.0f | %22s | %10s\n' "$k" "$t" "$(mbps "$t" "$k")" "$r" "$(cpu_per_gib "$t" "$k")"
  done
done
