# Shared by the bench/*.sh scripts (sourced from the repository root).

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Stops a process: SIGTERM, up to 20 s for it to end, then SIGKILL.
stop() {
  local pid="$1"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}

# Builds the solution and the benchmark client, and publishes the registry for this machine's
# runtime (Release, ReadyToRun), as the container image runs it. Sets REGISTRY_DLL, BENCH_DLL, RID.
build_registry_and_bench() {
  log "building the registry and the benchmark (Release)"
  dotnet build -c Release Registry.sln -nologo -v quiet
  dotnet build -c Release bench/Registry.Bench/Registry.Bench.csproj -nologo -v quiet
  RID="linux-$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')"
  dotnet publish Api/Api.csproj -c Release -r "$RID" --self-contained false -o "$ROOT/bench/out/registry" -nologo -v quiet
  REGISTRY_DLL="$ROOT/bench/out/registry/Registry.Api.dll"
  BENCH_DLL="$ROOT/bench/Registry.Bench/bin/Release/net10.0/Registry.Bench.dll"
}

# SKIP_BUILD=1: the last publish in bench/out/registry as it is (or REGISTRY_DLL=path) and the
# last benchmark build; otherwise build_registry_and_bench. Sets REGISTRY_DLL and BENCH_DLL.
registry_and_bench() {
  if [ "${SKIP_BUILD:-}" = 1 ]; then
    REGISTRY_DLL="${REGISTRY_DLL:-$ROOT/bench/out/registry/Registry.Api.dll}"
    BENCH_DLL="$ROOT/bench/Registry.Bench/bin/Release/net10.0/Registry.Bench.dll"
  else
    build_registry_and_bench
  fi
}

# Warns when the 1-minute load is above half the CPUs: other work would disturb the figures.
warn_if_loaded() {
  local load
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  if awk -v l="${load%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    log "WARNING: load average $load on $(nproc) CPUs: other work on this machine will disturb the figures"
  fi
}

# The reference registry (CNCF distribution, Debian's docker-registry), installed when missing;
# sets REFERENCE_VERSION. The package also starts a system service on :5000; the benchmarks run
# their own instances only.
install_reference_registry() {
  if ! command -v docker-registry >/dev/null 2>&1; then
    log "installing the reference registry (docker-registry)"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y docker-registry
  fi
  REFERENCE_VERSION="$(docker-registry --version 2>/dev/null | awk '{print $NF}')"
}

# Starts the reference registry as `$1` on 127.0.0.1:$2 with a fresh data directory $WORK/$1
# (config $WORK/$1.yml, output $WORK/$1.log); sets STARTED_PID. Request logging off: errors only,
# no access log; nothing else configured (in particular no storage.cache).
start_reference_registry() {
  local name="$1" port="$2"
  mkdir -p "$WORK/$name"
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
YAML
  docker-registry serve "$WORK/$name.yml" >"$WORK/$name.log" 2>&1 &
  STARTED_PID=$!
}

# Waits up to $4 s (default 60) for the registry `$1` (output in $WORK/$1.log) on 127.0.0.1:$2,
# process $3, to answer /v2/ (200 open, 401 with access control on).
wait_ready() {
  local name="$1" port="$2" pid="$3" seconds="${4:-60}"
  for _ in $(seq 1 $((seconds * 2))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited during start-up:"; tail -n 30 "$WORK/$name.log" >&2; return 1
    fi
    case "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/v2/" 2>/dev/null || true)" in
      200|401) return 0 ;;
    esac
    sleep 0.5
  done
  log "$name did not answer on 127.0.0.1:$port within $seconds s"; return 1
}

# The section of docs/benchmarks.md that bench/neutral.sh writes (between its markers), or nothing.
NEUTRAL_BEGIN='<!-- bench/neutral.sh: begin -->'
NEUTRAL_END='<!-- bench/neutral.sh: end -->'
neutral_section() {
  [ -f "$1" ] || return 0
  awk -v b="$NEUTRAL_BEGIN" -v e="$NEUTRAL_END" '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' "$1"
}
