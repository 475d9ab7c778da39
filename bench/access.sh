#!/usr/bin/env bash
# What access control costs: this registry with access control off and on (the same build, at
# once), and the reference registry (CNCF distribution, Debian package docker-registry) open and
# with htpasswd, in one run; writes docs/benchmarks-access.md.
#
#   bench/access.sh [--quick]
#
#   --quick  short windows and small blobs, for trying the script out
#
# SKIP_BUILD=1 uses the last publish in bench/out/registry as it is (or REGISTRY_DLL=path, e.g. a plain build).
# Every registry listens on a free 127.0.0.1 port with a fresh temporary data directory, and all
# are stopped (and their data removed) when the script exits, however it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=(--quick) ;;
    *) echo "usage: bench/access.sh [--quick]" >&2; exit 64 ;;
  esac
done
COMMAND="bench/access.sh${*:+ $*}"

# shellcheck source=bench/common.sh
source bench/common.sh

install_reference_registry

registry_and_bench

WORK="$(mktemp -d "${TMPDIR:-/tmp}/registry-access-bench.XXXXXX")"
PIDS=()
cleanup() {
  local status=$?
  log "stopping the registries"
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  mkdir -p "$ROOT/bench/results"
  cp "$WORK"/*.log "$ROOT/bench/results/" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { dotnet "$BENCH_DLL" free-port; }
OFF_PORT="$(port)"; ON_PORT="$(port)"; REF_PORT="$(port)"; OPEN_PORT="$(port)"
if [ "$(printf '%s\n' "$OFF_PORT" "$ON_PORT" "$REF_PORT" "$OPEN_PORT" | sort -u | wc -l)" -ne 4 ]; then
  log "two free ports came out equal; run again"; exit 1
fi

# One password for this registry's admin and the reference's htpasswd user, made for this run.
umask 077
head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$WORK/password"
dotnet "$BENCH_DLL" htpasswd --user admin --password-file "$WORK/password" >"$WORK/htpasswd"

start_ours() { # name port settings...
  local name="$1" port="$2"
  dotnet "$REGISTRY_DLL" --Registry:DataDirectory="$WORK/$name" --Registry:Listen="http://127.0.0.1:$port" \
    --Logging:LogLevel:Default=Warning "${@:3}" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
start_reference() { # name port auth-yaml
  local name="$1" port="$2"
  cat >"$WORK/$name.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/$name
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$3
YAML
  docker-registry serve "$WORK/$name.yml" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
log "starting this registry with access control off (:$OFF_PORT) and on (:$ON_PORT), the reference open (:$OPEN_PORT) and with htpasswd (:$REF_PORT)"
start_ours ours-off "$OFF_PORT" --Registry:Access:Enabled=false
# The admin password from the environment, not the command line (which any user may read in ps).
Registry__Access__AdminPassword="$(cat "$WORK/password")" start_ours ours-on "$ON_PORT" --Registry:Access:Enabled=true
start_reference reference-open "$OPEN_PORT" ""
start_reference reference-htpasswd "$REF_PORT" "auth:
  htpasswd:
    realm: bench
    path: $WORK/htpasswd"

wait_ready() { # port: any HTTP answer to /v2/ (200 open, 401 with authentication)
  for _ in $(seq 1 120); do
    case "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/v2/" || true)" in
      200|401) return 0 ;;
    esac
    sleep 0.5
  done
  log "nothing answered on 127.0.0.1:$1 within 60 s"; return 1
}
for p in "$OFF_PORT" "$ON_PORT" "$OPEN_PORT" "$REF_PORT"; do wait_ready "$p"; done

warn_if_loaded

SETUP="This registry: commit \`$(git rev-parse --short HEAD)\`, \`dotnet ${REGISTRY_DLL#"$ROOT"/}\`, two processes of the same build in embedded mode, one with \`--Registry:Access:Enabled=false\`, one with access control on and the admin password from \`Registry__Access__AdminPassword\` (bcrypt cost 10, successful checks cached for \`Registry:Access:CredentialCacheTime\`, 2 min; verified tokens cached until they expire). The reference: CNCF distribution $REFERENCE_VERSION (Debian package \`docker-registry\`), configured as in docs/benchmarks.md, one process open and one with \`auth.htpasswd\` (the same password, bcrypt cost 5 as \`htpasswd -B\` makes it; the reference checks the hash on every request and has no token flow with htpasswd)."
log "running the access benchmark"
dotnet "$BENCH_DLL" access "${QUICK[@]}" \
  --off "http://127.0.0.1:$OFF_PORT" --on "http://127.0.0.1:$ON_PORT" \
  --reference "http://127.0.0.1:$REF_PORT" --reference-open "http://127.0.0.1:$OPEN_PORT" \
  --user admin --password-file "$WORK/password" \
  --out "$ROOT/docs/benchmarks-access.md" --command "$COMMAND" --setup "$SETUP"
log "done: docs/benchmarks-access.md"
