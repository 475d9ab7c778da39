#!/usr/bin/env bash
# What a push costs the server, and how fast it and the first GET after it run, per upload write
# mode: curl monolithic push, the first curl GET right after it, then the python chunked uploader
# (bench/chunked-upload.py, 8 MiB PATCHes). Reports wall seconds and the server process's
# CPU-seconds (utime + stime from /proc/PID/stat) for each, as medians over alternating rounds,
# and the same-round ratios against the reference registry. CPU-seconds hold up on a loaded
# machine where single timings do not. Prints a table; writes nothing to docs/.
#
#   bench/upload-cpu.sh [--rounds N] [--size-mib M] [--no-build | --built]
#
#   --no-build   reuse bench/out/registry and the built benchmark tool
#   --built      run the solution's build output (Api/bin/Release, not ReadyToRun) as it is:
#                no publish, which takes minutes on a loaded machine
#
# Targets: this registry with Registry:Uploads:WriteMode=Direct (the default: direct I/O, then
# the committed blob handed to the page cache), Direct with the hand-off off
# (CacheHandOffMaxBlobBytes=0), Cached, and the reference (CNCF distribution), all at once on
# loopback, who goes first rotating, a `sync` before each push.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS=5
SIZE_MIB=256
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --size-mib) SIZE_MIB="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --built) BUILD=built; shift ;;
    *) echo "usage: bench/upload-cpu.sh [--rounds N] [--size-mib M] [--no-build | --built]" >&2; exit 64 ;;
  esac
done
SIZE=$((SIZE_MIB * 1024 * 1024))

# shellcheck source=bench/common.sh
source bench/common.sh
install_reference_registry
BENCH_DLL="$ROOT/bench/Registry.Bench/bin/Release/net10.0/Registry.Bench.dll"
case "$BUILD" in
  1) build_registry_and_bench ;;
  built) REGISTRY_DLL="$ROOT/Api/bin/Release/net10.0/Registry.Api.dll" ;;
  *) REGISTRY_DLL="$ROOT/bench/out/registry/Registry.Api.dll" ;;
esac
for f in "$REGISTRY_DLL" "$BENCH_DLL"; do [ -f "$f" ] || { log "$f is missing: run without --no-build"; exit 1; }; done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-upload-cpu.XXXXXX")"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
TARGETS=(direct nohandoff cached reference)
declare -A PORT PID URL
cleanup() {
  local status=$?
  for t in "${!PID[@]}"; do stop "${PID[$t]:-}"; done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TICKS="$(getconf CLK_TCK)"
# CPU-seconds the process $1 has used so far.
cpu() { awk -v t="$TICKS" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }

for t in "${TARGETS[@]}"; do
  PORT[$t]="$(dotnet "$BENCH_DLL" free-port)"
  URL[$t]="http://127.0.0.1:${PORT[$t]}"
  mkdir -p "$WORK/$t"
  case "$t" in
    reference) start_reference_registry "$t" "${PORT[$t]}"; PID[$t]=$STARTED_PID ;;
    *)
      extra=(--Registry:Uploads:WriteMode=Direct)
      [ "$t" = cached ] && extra=(--Registry:Uploads:WriteMode=Cached)
      [ "$t" = nohandoff ] && extra+=(--Registry:Uploads:CacheHandOffMaxBlobBytes=0)
      dotnet "$REGISTRY_DLL" --Registry:DataDirectory="$WORK/$t" --Registry:Listen="${URL[$t]}" \
        --Registry:Access:Enabled=false --Logging:LogLevel:Default=Warning "${extra[@]}" >"$WORK/$t.log" 2>&1 &
      PID[$t]=$!
      ;;
  esac
done
for t in "${TARGETS[@]}"; do wait_ready "$t" "${PORT[$t]}" "${PID[$t]}"; done

REPO=bench/cpu
push() {
  local url="$1" file="$2" digest="$3" location sep code
  location="$(curl -sS -X POST -o /dev/null -D - "$url/v2/$REPO/blobs/uploads/" | awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')"
  case "$location" in /*) location="$url$location" ;; esac
  case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
  code="$(curl -sS -X PUT -o /dev/null -w '%{http_code}' -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$location${sep}digest=$digest")"
  [ "$code" = 201 ] || { log "PUT to $url: $code"; return 1; }
}

RAW="$RESULTS/upload-cpu.tsv"
printf 'round\ttarget\tmetric\tseconds\tcpu\tload\n' >"$RAW"
# measure ROUND TARGET METRIC COMMAND...: wall and server CPU seconds of the command.
measure() {
  local round="$1" t="$2" metric="$3" s e c0 c1 load
  shift 3
  load="$(cut -d' ' -f1 /proc/loadavg)"
  c0="$(cpu "${PID[$t]}")"
  s="$(now)"
  "$@" >/dev/null
  e="$(now)"
  c1="$(cpu "${PID[$t]}")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$t" "$metric" "$(elapsed "$s" "$e")" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')" "$load" >>"$RAW"
}

# Not measured: a first push and GET to each.
head -c $((8 * 1024 * 1024)) /dev/urandom >"$WORK/warm"
warm="sha256:$(sha256sum "$WORK/warm" | cut -d' ' -f1)"
for t in "${TARGETS[@]}"; do push "${URL[$t]}" "$WORK/warm" "$warm"; curl -fsS -o /dev/null "${URL[$t]}/v2/$REPO/blobs/$warm"; done

log "load at start: $(uptime)"
for round in $(seq 1 "$ROUNDS"); do
  blob="$WORK/blob"; chunked="$WORK/chunked"
  head -c "$SIZE" /dev/urandom >"$blob"; head -c "$SIZE" /dev/urandom >"$chunked"
  digest="sha256:$(sha256sum "$blob" | cut -d' ' -f1)"
  chunked_digest="sha256:$(sha256sum "$chunked" | cut -d' ' -f1)"
  n=${#TARGETS[@]}
  order=("${TARGETS[@]:$(((round - 1) % n))}" "${TARGETS[@]:0:$(((round - 1) % n))}")
  for t in "${order[@]}"; do
    sync
    measure "$round" "$t" push push "${URL[$t]}" "$blob" "$digest"
    measure "$round" "$t" first_get curl -fsS -o /dev/null "${URL[$t]}/v2/$REPO/blobs/$digest"
    sync
    measure "$round" "$t" chunked python3 bench/chunked-upload.py "${URL[$t]}" "$REPO" "$chunked" "$chunked_digest"
  done
  log "round $round done (load $(cut -d' ' -f1 /proc/loadavg))"
done
log "load at end: $(uptime)"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v t="$1" -v m="$2" -v c="$3" 'NR > 1 && $2 == t && $3 == m { print $c }' "$RAW" | median; }
ratio() {
  awk -F'\t' -v a="$1" -v b="$2" -v m="$3" 'NR > 1 && $3 == m { s[$1, $2] = $4; r[$1] = 1 }
    END { for (x in r) if ((x, a) in s && (x, b) in s) printf "%.4f\n", s[x, b] / s[x, a] }' "$RAW" | median | awk '{ printf "%.2f", $1 }'
}
printf '\n%s MiB, medians of %s rounds: wall seconds / server CPU-seconds; speed ratio vs reference (same round, > 1 faster)\n' "$SIZE_MIB" "$ROUNDS"
printf '%-10s' target; for m in push first_get chunked; do printf ' | %-24s' "$m"; done; echo
for t in "${TARGETS[@]}"; do
  printf '%-10s' "$t"
  for m in push first_get chunked; do
    r=""; [ "$t" = reference ] || r=" ($(ratio "$t" reference "$m")x)"
    printf ' | %-24s' "$(col "$t" "$m" 4)s $(col "$t" "$m" 5)cpu$r"
  done
  echo
done
log "raw results in $RAW"
