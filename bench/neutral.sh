#!/usr/bin/env bash
# Pushes and pulls as a user's own tools do, with curl: a blob pushed monolithically (POST, then
# one PUT ?digest= with the body), then the FIRST GET of it right after the push, timed apart
# from the later GETs of it. Against this registry twice, with uploads written through the page
# cache (Registry:Uploads:WriteMode=Cached, the default) and with direct I/O (Direct), and
# against the reference registry, all three running at once, in rounds that alternate who goes
# first. Writes the "Neutral client" section of docs/benchmarks.md (between its markers; the
# rest of the page is bench/run.sh's).
#
#   bench/neutral.sh [--rounds N] [--size-mib M] [--no-build]
#
#   --rounds N     rounds of push + first GET + later GETs per registry (default 5, at least 3)
#   --size-mib M   blob size (default 256)
#   --no-build     reuse bench/out/registry and the built benchmark tool (trying the script out)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS=5
SIZE_MIB=256
BUILD=1
LATER_GETS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --size-mib) SIZE_MIB="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "usage: bench/neutral.sh [--rounds N] [--size-mib M] [--no-build]" >&2; exit 64 ;;
  esac
done
if [ "$ROUNDS" -lt 3 ]; then echo "--rounds: at least 3 (the figures are medians)" >&2; exit 64; fi
COMMAND="bench/neutral.sh"
[ "$ROUNDS" = 5 ] || COMMAND+=" --rounds $ROUNDS"
[ "$SIZE_MIB" = 256 ] || COMMAND+=" --size-mib $SIZE_MIB"
SIZE=$((SIZE_MIB * 1024 * 1024))

# shellcheck source=bench/common.sh
source bench/common.sh

install_reference_registry
if [ "$BUILD" = 1 ]; then
  build_registry_and_bench
else
  RID="linux-$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')"
  REGISTRY_DLL="$ROOT/bench/out/registry/Registry.Api.dll"
  BENCH_DLL="$ROOT/bench/Registry.Bench/bin/Release/net10.0/Registry.Bench.dll"
  for f in "$REGISTRY_DLL" "$BENCH_DLL"; do [ -f "$f" ] || { log "$f is missing: run without --no-build"; exit 1; }; done
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-neutral.XXXXXX")"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
TARGETS=(cached direct reference)
declare -A PORT PID URL
cleanup() {
  local status=$?
  log "stopping the registries"
  for t in "${TARGETS[@]}"; do stop "${PID[$t]:-}"; done
  cp "$WORK"/*.log "$RESULTS"/ 2>/dev/null || true
  local idle=()
  if command -v ionice >/dev/null 2>&1; then idle=(ionice -c3); fi
  nohup nice -n 19 "${idle[@]}" rm -rf "$WORK" >/dev/null 2>&1 &
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in "${TARGETS[@]}"; do
  PORT[$t]="$(dotnet "$BENCH_DLL" free-port)"
  URL[$t]="http://127.0.0.1:${PORT[$t]}"
done
start_ours() { # name write-mode
  mkdir -p "$WORK/$1"
  dotnet "$REGISTRY_DLL" \
    --Registry:DataDirectory="$WORK/$1" \
    --Registry:Listen="${URL[$1]}" \
    --Registry:Access:Enabled=false \
    --Registry:Uploads:WriteMode="$2" \
    --Logging:LogLevel:Default=Warning >"$WORK/$1.log" 2>&1 &
  PID[$1]=$!
}
log "starting this registry (WriteMode=Cached) on ${URL[cached]}, (WriteMode=Direct) on ${URL[direct]}"
start_ours cached Cached
start_ours direct Direct
log "starting the reference registry $REFERENCE_VERSION on ${URL[reference]}"
start_reference_registry reference "${PORT[reference]}"
PID[reference]=$STARTED_PID
for t in "${TARGETS[@]}"; do wait_ready "$t" "${PORT[$t]}" "${PID[$t]}"; done

REPO=bench/neutral

# Monolithic push of file $2 (digest $3) to registry $1; prints the seconds of POST + PUT.
push() {
  local url="$1" file="$2" digest="$3" headers location sep post put
  headers="$(curl -sS -X POST -o /dev/null -D - -w '\ntime %{time_total}\n' "$url/v2/$REPO/blobs/uploads/")"
  location="$(awk 'tolower($1) == "location:" { print $2 }' <<<"$headers" | tr -d '\r')"
  post="$(awk '$1 == "time" { print $2 }' <<<"$headers")"
  [ -n "$location" ] || { log "POST to $url: no Location"; return 1; }
  case "$location" in /*) location="$url$location" ;; esac
  case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
  read -r code put < <(curl -sS -X PUT -o /dev/null -w '%{http_code} %{time_total}\n' \
    -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$location${sep}digest=$digest")
  [ "$code" = 201 ] || { log "PUT to $url: $code"; return 1; }
  awk -v a="$post" -v b="$put" 'BEGIN { printf "%.6f\n", a + b }'
}

# GET of blob $2 from registry $1; prints its seconds, after checking it was whole.
get() {
  local code size secs
  read -r code size secs < <(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' "$1/v2/$REPO/blobs/$2")
  [ "$code" = 200 ] && [ "$size" = "$SIZE" ] || { log "GET from $1: $code, $size bytes"; return 1; }
  echo "$secs"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Not measured: a first push and pull to each, so that no round pays for a fresh process's first requests.
head -c $((8 * 1024 * 1024)) /dev/urandom >"$WORK/warm-up"
warm_digest="sha256:$(sha256sum "$WORK/warm-up" | cut -d' ' -f1)"
for t in "${TARGETS[@]}"; do
  push "${URL[$t]}" "$WORK/warm-up" "$warm_digest" >/dev/null
  curl -fsS -o /dev/null "${URL[$t]}/v2/$REPO/blobs/$warm_digest"
done

RAW="$RESULTS/neutral.tsv"
printf 'round\ttarget\tpush_s\tfirst_get_s\tlater_get_s\tload\n' >"$RAW"
LOAD_START="$(uptime)"
log "load at start: $LOAD_START"
for round in $(seq 1 "$ROUNDS"); do
  # A new blob each round (a blob already stored would not be written again); the same bytes for all three.
  blob="$WORK/blob-$round"
  head -c "$SIZE" /dev/urandom >"$blob"
  digest="sha256:$(sha256sum "$blob" | cut -d' ' -f1)"
  order=("${TARGETS[@]:$(((round - 1) % 3))}" "${TARGETS[@]:0:$(((round - 1) % 3))}")
  for t in "${order[@]}"; do
    # Whatever an earlier push left for the kernel to write back is not this one's to pay for.
    sync
    load="$(cut -d' ' -f1 /proc/loadavg)"
    p="$(push "${URL[$t]}" "$blob" "$digest")"
    first="$(get "${URL[$t]}" "$digest")"
    later="$(for _ in $(seq 1 "$LATER_GETS"); do get "${URL[$t]}" "$digest"; done | median)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$t" "$p" "$first" "$later" "$load" >>"$RAW"
    log "round $round $t: push ${p}s, first GET ${first}s, later GETs ${later}s (load $load)"
  done
  rm -f "$blob"
done
LOAD_END="$(uptime)"
log "load at end: $LOAD_END"

# --- the section --------------------------------------------------------------------------
mbps() { awk -v s="$1" -v n="$SIZE" 'BEGIN { printf "%.0f", n / 1e6 / s }'; }
column_of() { case "$1" in push) echo 3 ;; first) echo 4 ;; later) echo 5 ;; esac; }
# Median MB/s of metric $2 for target $1 over the rounds.
median_mbps() { mbps "$(awk -F'\t' -v t="$1" -v c="$(column_of "$2")" 'NR > 1 && $2 == t { print $c }' "$RAW" | median)"; }
# Per-round ratios (throughput of $1 / throughput of $2 = seconds of $2 / seconds of $1) of metric $3:
# "median (min–max)".
ratios() {
  awk -F'\t' -v a="$1" -v b="$2" -v c="$(column_of "$3")" '
    NR > 1 { s[$1, $2] = $c; rounds[$1] = 1 }
    END { for (r in rounds) if ((r, a) in s && (r, b) in s) printf "%.4f\n", s[r, b] / s[r, a] }' "$RAW" |
    sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.2f× (%.2f–%.2f)", m, v[1], v[NR] }'
}

SECTION="$WORK/section.md"
{
  echo "$NEUTRAL_BEGIN"
  echo "## Neutral client (curl): a push, then the first GET right after it"
  echo
  echo "Generated by \`$COMMAND\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$(git rev-parse --short HEAD)\`; rerun the script rather than editing this section."
  echo "curl $(curl --version | head -n 1 | cut -d' ' -f2) pushes a $SIZE_MIB MiB blob of random bytes monolithically (POST, then one PUT ?digest= with the body, curl's defaults otherwise), GETs it once right after the push (**first GET**), then $LATER_GETS more times (**later GETs**, their median per round)."
  echo "Three registries run at once on loopback with fresh data directories: this one with \`--Registry:Uploads:WriteMode=Cached\` (the default) and with \`--Registry:Uploads:WriteMode=Direct\` (published as \`bench/run.sh\` does, access control off, warnings-only logging), and the reference, CNCF distribution $REFERENCE_VERSION, configured as in \`bench/run.sh\`."
  echo "After a warm-up push and GET to each (not measured), $ROUNDS rounds; each round pushes a new blob to all three, who goes first rotating, with a \`sync\` before each push so that none pays for an earlier one's writeback. MB/s = $SIZE_MIB MiB / seconds (POST + PUT for a push, the whole response for a GET); figures are medians over the rounds, ratios are medians of the per-round ratios (min–max in brackets), > 1 means the first named is faster."
  echo
  echo "The machine was shared with other work while this ran, so single figures are noisy; compare the ratios, taken within each round. Load at the start: \`${LOAD_START# }\`; at the end: \`${LOAD_END# }\` ($(nproc) CPUs; the 1-minute load before each measurement is in \`bench/results/neutral.tsv\`)."
  echo
  echo "| MB/s (median of $ROUNDS rounds) | Ours, Cached | Ours, Direct | Reference |"
  echo "|---|---:|---:|---:|"
  for m in push first later; do
    case "$m" in push) label="Monolithic push, $SIZE_MIB MiB" ;; first) label="**First GET right after the push**" ;; later) label="Later GETs of the same blob" ;; esac
    echo "| $label | $(median_mbps cached "$m") | $(median_mbps direct "$m") | $(median_mbps reference "$m") |"
  done
  echo
  echo "| Ratio, same round | Cached / reference | Direct / reference | Cached / Direct |"
  echo "|---|---:|---:|---:|"
  for m in push first later; do
    case "$m" in push) label="Monolithic push" ;; first) label="**First GET right after the push**" ;; later) label="Later GETs" ;; esac
    echo "| $label | $(ratios cached reference "$m") | $(ratios direct reference "$m") | $(ratios cached direct "$m") |"
  done
  echo
  echo "Per round (seconds; push = POST + PUT):"
  echo
  echo "| Round | Registry | Push | First GET | Later GETs (median) | 1-min load before |"
  echo "|---:|---|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 { printf "| %s | %s | %.3f | %.3f | %.3f | %s |\n", $1, $2, $3, $4, $5, $6 }' "$RAW"
  echo "$NEUTRAL_END"
} >"$SECTION"

DOC="$ROOT/docs/benchmarks.md"
if [ -n "$(neutral_section "$DOC")" ]; then
  awk -v b="$NEUTRAL_BEGIN" -v e="$NEUTRAL_END" -v f="$SECTION" '
    $0 == b { while ((getline line < f) > 0) print line; skip = 1; next }
    $0 == e { skip = 0; next }
    !skip' "$DOC" >"$WORK/doc.md"
  cat "$WORK/doc.md" >"$DOC"
else
  printf '\n' >>"$DOC"
  cat "$SECTION" >>"$DOC"
fi
log "done: the neutral-client section of docs/benchmarks.md (raw results in $RAW)"
