#!/usr/bin/env bash
# Pushes and pulls as a user's own tools do, against this registry and the reference registry
# in the same run, and writes the "Neutral client" section of docs/benchmarks.md (between its
# markers; the rest of the page is bench/run.sh's):
#
# - fresh start: each registry started anew, then the first skopeo push to it (3 small layers)
#   timed, with the time from start to ready; this registry both published (ReadyToRun, as
#   bench/run.sh and the container image run it) and as built by `dotnet run -c Release`;
# - curl: a blob pushed monolithically (POST, then one PUT ?digest= with the body), then the
#   FIRST GET of it right after the push, timed apart from the later GETs of it;
# - a plain chunked uploader (bench/chunked-upload.py: python http.client, 8 MiB PATCHes on one
#   connection, then PUT);
# - skopeo: a 100 MiB image (3 layers) pushed, then pulled right after to a dir: destination;
#   with --big also a 1 GiB image.
#
# This registry runs twice, with uploads written with direct I/O and then handed to the page cache
# (Registry:Uploads:WriteMode=Direct, the default) and through the page cache (Cached); the three
# registries run at once, in rounds that alternate who goes first.
#
#   bench/neutral.sh [--rounds N] [--size-mib M] [--big] [--no-build]
#
#   --rounds N     rounds per registry (default 5, at least 3; the figures are medians)
#   --size-mib M   blob size for curl and the chunked uploader (default 256)
#   --big          adds the 1 GiB skopeo image (3 more minutes or so)
#   --no-build     reuse bench/out/registry, Api/bin/Release and the built benchmark tool
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS=5
SIZE_MIB=256
BIG=0
BUILD=1
LATER_GETS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --size-mib) SIZE_MIB="$2"; shift 2 ;;
    --big) BIG=1; shift ;;
    --no-build) BUILD=0; shift ;;
    *) echo "usage: bench/neutral.sh [--rounds N] [--size-mib M] [--big] [--no-build]" >&2; exit 64 ;;
  esac
done
if [ "$ROUNDS" -lt 3 ]; then echo "--rounds: at least 3 (the figures are medians)" >&2; exit 64; fi
COMMAND="bench/neutral.sh"
[ "$ROUNDS" = 5 ] || COMMAND+=" --rounds $ROUNDS"
[ "$SIZE_MIB" = 256 ] || COMMAND+=" --size-mib $SIZE_MIB"
[ "$BIG" = 0 ] || COMMAND+=" --big"
SIZE=$((SIZE_MIB * 1024 * 1024))

# shellcheck source=bench/common.sh
source bench/common.sh

for tool in skopeo python3; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is missing (apt-get install $tool)"; exit 1; }
done
install_reference_registry
if [ "$BUILD" = 1 ]; then
  build_registry_and_bench
else
  RID="linux-$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')"
  REGISTRY_DLL="$ROOT/bench/out/registry/Registry.Api.dll"
  BENCH_DLL="$ROOT/bench/Registry.Bench/bin/Release/net10.0/Registry.Bench.dll"
fi
# What `dotnet run -c Release --project Api` (the README's command) runs: the build, not precompiled.
BUILT_DLL="$ROOT/Api/bin/Release/net10.0/Registry.Api.dll"
for f in "$REGISTRY_DLL" "$BENCH_DLL" "$BUILT_DLL"; do [ -f "$f" ] || { log "$f is missing: run without --no-build"; exit 1; }; done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-neutral.XXXXXX")"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
TARGETS=(cached direct reference)
declare -A PORT PID URL
cleanup() {
  local status=$?
  log "stopping the registries"
  for t in "${!PID[@]}"; do stop "${PID[$t]:-}"; done
  cp "$WORK"/*.log "$RESULTS"/ 2>/dev/null || true
  local idle=()
  if command -v ionice >/dev/null 2>&1; then idle=(ionice -c3); fi
  nohup nice -n 19 "${idle[@]}" rm -rf "$WORK" >/dev/null 2>&1 &
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RAW="$RESULTS/neutral.tsv"
printf 'round\ttarget\tmetric\tseconds\tbytes\tload\n' >"$RAW"
# record ROUND TARGET METRIC SECONDS BYTES LOAD
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", b - a }'; }

# Starts this registry as `$1` from $2 (a Registry.Api.dll) with upload write mode $3 on a new data directory.
start_ours() {
  rm -rf "${WORK:?}/$1"
  mkdir -p "$WORK/$1"
  dotnet "$2" \
    --Registry:DataDirectory="$WORK/$1" \
    --Registry:Listen="${URL[$1]}" \
    --Registry:Access:Enabled=false \
    --Registry:Uploads:WriteMode="$3" \
    --Logging:LogLevel:Default=Warning >"$WORK/$1.log" 2>&1 &
  PID[$1]=$!
}

# Waits (polling every 50 ms, up to 60 s) until `$1` answers /v2/.
wait_up() {
  for _ in $(seq 1 1200); do
    kill -0 "${PID[$1]}" 2>/dev/null || { log "$1 exited during start-up:"; tail -n 30 "$WORK/$1.log" >&2; return 1; }
    if curl -fsS -o /dev/null --max-time 2 "${URL[$1]}/v2/" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  log "$1 did not answer within 60 s"; return 1
}

image_bytes() { du -sb --apparent-size "$1/blobs" | cut -f1; }

# skopeo push of OCI layout $2 to registry $1 as $3; prints the seconds.
skopeo_push() {
  local s e
  s="$(now)"
  skopeo copy -q --dest-tls-verify=false "oci:$2:v1" "docker://${1#http://}/$3:v1" >/dev/null
  e="$(now)"
  elapsed "$s" "$e"
}

# skopeo pull of $2 from registry $1 to a dir: destination; prints the seconds.
skopeo_pull() {
  local s e out="$WORK/pulled"
  rm -rf "$out"
  s="$(now)"
  skopeo copy -q --src-tls-verify=false "docker://${1#http://}/$2:v1" "dir:$out" >/dev/null
  e="$(now)"
  rm -rf "$out"
  elapsed "$s" "$e"
}

# --- fresh start ----------------------------------------------------------------------------
# Each round starts each registry anew on an empty data directory and times the first skopeo push
# (3 small layers and a config) once it answers /v2/; who goes first rotates.
python3 bench/make-image.py "$WORK/small" v1 64K 128K 256K
SMALL_BYTES="$(image_bytes "$WORK/small")"
FRESH=(published built reference)
for t in "${FRESH[@]}"; do
  PORT[$t]="$(dotnet "$BENCH_DLL" free-port)"
  URL[$t]="http://127.0.0.1:${PORT[$t]}"
done
log "fresh start: $ROUNDS rounds of start + first skopeo push"
for round in $(seq 1 "$ROUNDS"); do
  order=("${FRESH[@]:$(((round - 1) % 3))}" "${FRESH[@]:0:$(((round - 1) % 3))}")
  for t in "${order[@]}"; do
    sync
    load="$(load1)"
    s="$(now)"
    case "$t" in
      published) start_ours "$t" "$REGISTRY_DLL" Direct ;;
      built) start_ours "$t" "$BUILT_DLL" Direct ;;
      reference) rm -rf "${WORK:?}/$t"; start_reference_registry "$t" "${PORT[$t]}"; PID[$t]=$STARTED_PID ;;
    esac
    wait_up "$t"
    ready="$(elapsed "$s" "$(now)")"
    push="$(skopeo_push "${URL[$t]}" "$WORK/small" fresh/app)"
    second="$(skopeo_push "${URL[$t]}" "$WORK/small" fresh/again)"
    stop "${PID[$t]}"
    unset "PID[$t]"
    record "$round" "$t" ready "$ready" 0 "$load"
    record "$round" "$t" fresh_push "$push" "$SMALL_BYTES" "$load"
    record "$round" "$t" fresh_second "$second" "$SMALL_BYTES" "$load"
    log "fresh round $round $t: ready after ${ready}s, first push ${push}s, second push ${second}s (load $load)"
  done
done

# --- the long-running registries -------------------------------------------------------------
for t in "${TARGETS[@]}"; do
  PORT[$t]="$(dotnet "$BENCH_DLL" free-port)"
  URL[$t]="http://127.0.0.1:${PORT[$t]}"
done
log "starting this registry (WriteMode=Cached) on ${URL[cached]}, (WriteMode=Direct) on ${URL[direct]}"
start_ours cached "$REGISTRY_DLL" Cached
start_ours direct "$REGISTRY_DLL" Direct
log "starting the reference registry $REFERENCE_VERSION on ${URL[reference]}"
start_reference_registry reference "${PORT[reference]}"
PID[reference]=$STARTED_PID
for t in "${TARGETS[@]}"; do wait_up "$t"; done

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

# Not measured: a first push and pull to each, so that no round pays for a process's first big requests.
head -c $((8 * 1024 * 1024)) /dev/urandom >"$WORK/warm-up"
warm_digest="sha256:$(sha256sum "$WORK/warm-up" | cut -d' ' -f1)"
for t in "${TARGETS[@]}"; do
  push "${URL[$t]}" "$WORK/warm-up" "$warm_digest" >/dev/null
  curl -fsS -o /dev/null "${URL[$t]}/v2/$REPO/blobs/$warm_digest"
done

LOAD_START="$(uptime)"
log "load at start: $LOAD_START"
IMAGE_LAYERS=(40M 30M 30M)
BIG_LAYERS=(512M 256M 256M)
for round in $(seq 1 "$ROUNDS"); do
  # New bytes each round (a blob already stored would not be written again); the same bytes for all three.
  blob="$WORK/blob-$round"
  head -c "$SIZE" /dev/urandom >"$blob"
  digest="sha256:$(sha256sum "$blob" | cut -d' ' -f1)"
  chunked="$WORK/chunked-$round"
  head -c "$SIZE" /dev/urandom >"$chunked"
  chunked_digest="sha256:$(sha256sum "$chunked" | cut -d' ' -f1)"
  image="$WORK/image-$round"
  python3 bench/make-image.py "$image" v1 "${IMAGE_LAYERS[@]}"
  image_size="$(image_bytes "$image")"
  if [ "$BIG" = 1 ]; then
    big="$WORK/big-$round"
    python3 bench/make-image.py "$big" v1 "${BIG_LAYERS[@]}"
    big_size="$(image_bytes "$big")"
  fi
  order=("${TARGETS[@]:$(((round - 1) % 3))}" "${TARGETS[@]:0:$(((round - 1) % 3))}")
  for t in "${order[@]}"; do
    # Whatever an earlier push left for the kernel to write back is not this one's to pay for.
    sync
    load="$(load1)"
    p="$(push "${URL[$t]}" "$blob" "$digest")"
    first="$(get "${URL[$t]}" "$digest")"
    later="$(for _ in $(seq 1 "$LATER_GETS"); do get "${URL[$t]}" "$digest"; done | median)"
    record "$round" "$t" push "$p" "$SIZE" "$load"
    record "$round" "$t" first_get "$first" "$SIZE" "$load"
    record "$round" "$t" later_get "$later" "$SIZE" "$load"
    sync
    load="$(load1)"
    c="$(python3 bench/chunked-upload.py "${URL[$t]}" "$REPO" "$chunked" "$chunked_digest")"
    record "$round" "$t" chunked "$c" "$SIZE" "$load"
    sync
    load="$(load1)"
    sp="$(skopeo_push "${URL[$t]}" "$image" "bench/image-$round")"
    sl="$(skopeo_pull "${URL[$t]}" "bench/image-$round")"
    record "$round" "$t" skopeo_push "$sp" "$image_size" "$load"
    record "$round" "$t" skopeo_pull "$sl" "$image_size" "$load"
    line="round $round $t: curl push ${p}s, first GET ${first}s, later GETs ${later}s; chunked push ${c}s; skopeo push ${sp}s, pull ${sl}s"
    if [ "$BIG" = 1 ]; then
      sync
      load="$(load1)"
      bp="$(skopeo_push "${URL[$t]}" "$big" "bench/big-$round")"
      bl="$(skopeo_pull "${URL[$t]}" "bench/big-$round")"
      record "$round" "$t" big_push "$bp" "$big_size" "$load"
      record "$round" "$t" big_pull "$bl" "$big_size" "$load"
      line+="; 1 GiB skopeo push ${bp}s, pull ${bl}s"
    fi
    log "$line (load $load)"
  done
  rm -rf "$blob" "$chunked" "$image" "${big:-}"
done
LOAD_END="$(uptime)"
log "load at end: $LOAD_END"

# --- the section --------------------------------------------------------------------------
# Median seconds of metric $2 for target $1 over the rounds.
median_seconds() { awk -F'\t' -v t="$1" -v m="$2" 'NR > 1 && $2 == t && $3 == m { print $4 }' "$RAW" | median; }
# Median MB/s of metric $2 for target $1 over the rounds.
median_mbps() {
  awk -F'\t' -v t="$1" -v m="$2" 'NR > 1 && $2 == t && $3 == m { printf "%.6f\n", $5 / 1e6 / $4 }' "$RAW" | median |
    awk '{ printf "%.0f", $1 }'
}
# Per-round ratios of metric $3 (seconds of $2 / seconds of $1: > 1 means $1 is faster): "median (min–max)".
ratios() {
  awk -F'\t' -v a="$1" -v b="$2" -v m="$3" '
    NR > 1 && $3 == m { s[$1, $2] = $4; rounds[$1] = 1 }
    END { for (r in rounds) if ((r, a) in s && (r, b) in s) printf "%.4f\n", s[r, b] / s[r, a] }' "$RAW" |
    sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.2f× (%.2f–%.2f)", m, v[1], v[NR] }'
}
# The median of the per-round ratios alone.
ratio_median() { ratios "$@" | sed 's/×.*//'; }
seconds_range() {
  awk -F'\t' -v t="$1" -v m="$2" 'NR > 1 && $2 == t && $3 == m { print $4 }' "$RAW" | sort -g |
    awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.2f (%.2f–%.2f)", m, v[1], v[NR] }'
}
label() {
  case "$1" in
    push) echo "Monolithic push, $SIZE_MIB MiB (curl)" ;;
    first_get) echo "**First GET right after the push** (curl)" ;;
    later_get) echo "Later GETs of the same blob (curl)" ;;
    chunked) echo "Chunked push, $SIZE_MIB MiB in 8 MiB PATCHes (python)" ;;
    skopeo_push) echo "skopeo push, 100 MiB image" ;;
    skopeo_pull) echo "**skopeo pull of the 100 MiB image right after its push**" ;;
    big_push) echo "skopeo push, 1 GiB image" ;;
    big_pull) echo "**skopeo pull of the 1 GiB image right after its push**" ;;
  esac
}
METRICS=(push first_get later_get chunked skopeo_push skopeo_pull)
[ "$BIG" = 0 ] || METRICS+=(big_push big_pull)
# verdict MEASURED OP GOAL: PASS or FAIL
verdict() { awk -v m="$1" -v op="$2" -v g="$3" 'BEGIN { ok = (op == ">=") ? (m >= g) : (m <= g); print ok ? "PASS" : "FAIL" }'; }

SECTION="$WORK/section.md"
{
  echo "$NEUTRAL_BEGIN"
  echo "## Neutral clients (curl, a python chunked uploader, skopeo)"
  echo
  echo "Generated by \`$COMMAND\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$(git rev-parse --short HEAD)\`; rerun the script rather than editing this section."
  echo
  echo "- **Clients.** curl $(curl --version | head -n 1 | cut -d' ' -f2) pushes a $SIZE_MIB MiB blob of random bytes monolithically (POST, then one PUT ?digest= with the body, curl's defaults otherwise, so with \`Expect: 100-continue\`), GETs it once right after the push (**first GET**), then $LATER_GETS more times (**later GETs**, their median per round). \`bench/chunked-upload.py\` (Python $(python3 -c 'import platform; print(platform.python_version())'), \`http.client\`, one connection) pushes another $SIZE_MIB MiB blob in 8 MiB PATCHes, then an empty PUT. skopeo $(skopeo --version | awk '{print $3}') pushes an OCI image of 3 layers (40, 30 and 30 MiB of random bytes, gzip-wrapped uncompressed so that skopeo sends them as they are; \`bench/make-image.py\`) and pulls it right after to a \`dir:\` destination$([ "$BIG" = 1 ] && echo "; then the same with a 1 GiB image (512, 256 and 256 MiB)")."
  echo "- **Registries.** Three run at once on loopback with fresh data directories: this one with \`--Registry:Uploads:WriteMode=Direct\` (the default: direct I/O, then the committed blob handed to the page cache) and with \`--Registry:Uploads:WriteMode=Cached\` (published as \`bench/run.sh\` does, access control off, warnings-only logging), and the reference, CNCF distribution $REFERENCE_VERSION, configured as in \`bench/run.sh\`. After a warm-up push and GET to each (not measured), $ROUNDS rounds; each round uses new bytes, the same for all three, who goes first rotating, with a \`sync\` before each push so that none pays for an earlier one's writeback."
  echo "- **Fresh start.** Before those, $ROUNDS rounds start each registry anew on an empty data directory and time the first skopeo push to it (3 layers of 64, 128 and 256 KiB and a config, $SMALL_BYTES bytes) as soon as \`GET /v2/\` answers, then a second push of the same image to another repository; this registry both as published (ReadyToRun, as \`bench/run.sh\` and the container image run it) and as \`dotnet run -c Release --project Api\` runs it (the build output, compiled as it runs); both warm up before they listen (\`Registry:WarmUp\`: a push and pull through a throwaway registry in the process, then the real silo's codecs, grain references and one read-only activation of each grain kind a push uses)."
  echo "- **Figures.** MB/s = bytes / seconds (MB = 10^6 bytes; for a push from its first request to the 201 of its last, for a GET the whole response, for skopeo the whole command); figures are medians over the rounds, ratios are medians of the per-round ratios (min–max in brackets), > 1 means the first named is faster."
  echo
  echo "The machine was shared with other work while this ran, so single figures are noisy; compare the ratios, taken within each round. Load at the start of the data rounds: \`${LOAD_START# }\`; at the end: \`${LOAD_END# }\` ($(nproc) CPUs; the 1-minute load before each measurement is in \`bench/results/neutral.tsv\`)."
  echo
  echo "| MB/s (median of $ROUNDS rounds) | Ours, Cached | Ours, Direct | Reference |"
  echo "|---|---:|---:|---:|"
  for m in "${METRICS[@]}"; do
    echo "| $(label "$m") | $(median_mbps cached "$m") | $(median_mbps direct "$m") | $(median_mbps reference "$m") |"
  done
  echo
  echo "| Ratio, same round | Cached / reference | Direct / reference | Cached / Direct |"
  echo "|---|---:|---:|---:|"
  for m in "${METRICS[@]}"; do
    echo "| $(label "$m") | $(ratios cached reference "$m") | $(ratios direct reference "$m") | $(ratios cached direct "$m") |"
  done
  echo
  echo "Fresh start, seconds (median, min–max in brackets, of $ROUNDS starts each):"
  echo
  echo "| Seconds | Ours, published | Ours, \`dotnet run\` build | Reference |"
  echo "|---|---:|---:|---:|"
  echo "| Start until \`GET /v2/\` answers | $(seconds_range published ready) | $(seconds_range built ready) | $(seconds_range reference ready) |"
  echo "| **First skopeo push** | $(seconds_range published fresh_push) | $(seconds_range built fresh_push) | $(seconds_range reference fresh_push) |"
  echo "| Second skopeo push (another repository) | $(seconds_range published fresh_second) | $(seconds_range built fresh_second) | $(seconds_range reference fresh_second) |"
  echo "| First push, ours / reference (same round) | $(ratios reference published fresh_push) | $(ratios reference built fresh_push) | |"
  echo
  echo "Goals (issue 17), this registry's default (Direct) against the reference:"
  echo
  echo "| Goal | Measured | Result |"
  echo "|---|---:|---|"
  goal() { local m; m="$(ratio_median "$2" "$3" "$4")"; echo "| $1 | ${m}× | $(verdict "$m" "$5" "$6") |"; }
  goal "Monolithic push (curl) ≥ 2×" direct reference push ">=" 2
  goal "Chunked push (python) ≥ 2×" direct reference chunked ">=" 2
  goal "First GET right after a push ≥ 1.0×" direct reference first_get ">=" 1
  goal "Later GETs ≥ 1.2×" direct reference later_get ">=" 1.2
  goal "skopeo pull of the 100 MiB image right after its push ≥ 1.0×" direct reference skopeo_pull ">=" 1
  if [ "$BIG" = 1 ]; then
    goal "skopeo pull of the 1 GiB image right after its push ≥ 1.0×" direct reference big_pull ">=" 1
    goal "skopeo push of the 1 GiB image ≥ 1.5×" direct reference big_push ">=" 1.5
  fi
  m="$(ratio_median published reference fresh_push | awk '{ printf "%.2f", 1 / $1 }')"
  echo "| First skopeo push to a fresh registry ≤ 1.2× the reference's time (published) | ${m}× the time | $(verdict "$m" "<=" 1.2) |"
  m="$(ratio_median built reference fresh_push | awk '{ printf "%.2f", 1 / $1 }')"
  echo "| First skopeo push to a fresh registry ≤ 1.2× the reference's time (\`dotnet run\` build) | ${m}× the time | $(verdict "$m" "<=" 1.2) |"
  echo
  echo "Per round (seconds):"
  echo
  header="| Round | Registry |"
  rule="|---:|---|"
  for m in "${METRICS[@]}"; do header+=" $m |"; rule+="---:|"; done
  echo "$header 1-min load |"
  echo "$rule---:|"
  awk -F'\t' -v list="${METRICS[*]}" '
    BEGIN { n = split(list, metrics, " ") }
    NR > 1 { v[$1, $2, $3] = $4; if (!(($1, $2) in seen)) { seen[$1, $2] = 1; order[++k] = $1 SUBSEP $2 } if ($3 == "push") load[$1, $2] = $6 }
    END {
      for (i = 1; i <= k; i++) {
        split(order[i], key, SUBSEP)
        if (key[2] !~ /^(cached|direct|reference)$/ || !((key[1], key[2], "push") in v)) continue
        line = "| " key[1] " | " key[2] " |"
        for (j = 1; j <= n; j++) line = line sprintf(" %.3f |", v[key[1], key[2], metrics[j]])
        print line " " load[key[1], key[2]] " |"
      }
    }' "$RAW"
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
