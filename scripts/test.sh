#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing, builds and runs every test
# project of Registry.sln, and ends with exactly one line "N passed, N failed".
# Exits non-zero when a test failed, the build failed or no test ran.
set -uo pipefail

cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_UI_LANGUAGE=en DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

finish() { # passed failed exit-code
    echo "$1 passed, $2 failed"
    exit "$3"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# skopeo is the real client of the end-to-end tests (Debian package).
if ! command -v skopeo >/dev/null 2>&1; then
    echo "test.sh: skopeo is missing; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q || echo "test.sh: apt-get update failed" >&2
    as_root apt-get install -y -q skopeo || echo "test.sh: apt-get install skopeo failed; the skopeo tests will fail" >&2
fi

# podman is the second real client (login, push, pull with access control on; Debian package).
if ! command -v podman >/dev/null 2>&1; then
    echo "test.sh: podman is missing; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q podman || echo "test.sh: apt-get install podman failed; the podman tests will fail" >&2
fi

# kubectl renders the deploy/ overlays (kustomize is built in); the machine image has it, Debian does not.
command -v kubectl >/dev/null 2>&1 || echo "test.sh: kubectl is missing; the deploy tests will fail" >&2

# Azurite, the Azure Storage emulator of the cluster-mode tests, pinned in tools/azurite (npm).
if [ ! -x tools/azurite/node_modules/.bin/azurite ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "test.sh: npm is missing; installing nodejs and npm with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update -q || true
        as_root apt-get install -y -q nodejs npm || echo "test.sh: could not install npm; the cluster tests will fail" >&2
    fi
    echo "test.sh: installing Azurite (tools/azurite)"
    npm ci --prefix tools/azurite --no-audit --no-fund --loglevel=error || echo "test.sh: npm ci failed; the cluster tests will fail" >&2
fi

if ! command -v dotnet >/dev/null 2>&1; then
    echo "test.sh: dotnet is not on PATH" >&2
    finish 0 1 1
fi

log="$(mktemp -t registry-test.XXXXXX.log)"
trap 'rm -f "$log"' EXIT

# Bounded: a hung test run is killed (CI allows 90 minutes for everything).
timeout --kill-after=60s 45m \
    dotnet test Registry.sln -c Release --logger "console;verbosity=minimal" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# One summary line per test assembly: "Passed!  - Failed: X, Passed: Y, Skipped: Z, Total: T, ..."
read -r passed failed summaries < <(
    sed -E 's/\x1b\[[0-9;]*m//g' "$log" | awk '
        /^[[:space:]]*(Passed|Failed)![[:space:]]+-[[:space:]]+Failed:/ {
            line = $0
            sub(/.*Failed:[[:space:]]*/, "", line); f = line + 0
            line = $0
            sub(/.*Passed:[[:space:]]*/, "", line); p = line + 0
            failed += f; passed += p; n++
        }
        END { printf "%d %d %d\n", passed, failed, n }')

echo
if [ "$summaries" -eq 0 ]; then
    echo "test.sh: no test summary found (build failure or crash; dotnet test exited $rc)" >&2
    finish 0 1 1
fi

if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "test.sh: dotnet test exited $rc although no test failed (a test host crashed or the run timed out)" >&2
    finish "$passed" 1 1
fi

if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "test.sh: no test ran" >&2
    finish 0 1 1
fi

if [ "$failed" -gt 0 ]; then
    finish "$passed" "$failed" 1
fi

finish "$passed" 0 0
