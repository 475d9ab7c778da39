# Shared by bench/run.sh and bench/scaleout.sh (sourced from the repository root).

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
