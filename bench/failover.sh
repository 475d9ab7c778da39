#!/usr/bin/env bash
# Failover benchmark: the suite's failover test (tests/Registry.Tests/FailoverTests.cs) repeated.
# 3 cluster-mode registry processes on one Azurite; in each round skopeo (default settings, no
# retries) pushes and pulls and manifest GET loops run through two of them while the third is
# killed with kill -9; a fresh replica replaces it before the next round. Prints one line of
# figures per round and writes them into the failover section of docs/benchmarks-scaleout.md.
#
#   bench/failover.sh [--rounds N] [--load SECONDS] [--gets N] [--no-docs]
#
#   --rounds N      kills (default 10)
#   --load SECONDS  traffic before each kill (default 2); longer loads test for false death declarations
#   --gets N        concurrent GET loops (default 4)
#   --no-docs       print only, leave docs/benchmarks-scaleout.md alone (e.g. when trying settings)
#
# Registry__* variables in the environment reach every replica, e.g. to compare membership
# settings: Registry__Cluster__ProbeTimeout=00:00:05 bench/failover.sh --no-docs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS=10
LOAD=2
GETS=4
DOCS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --load) LOAD="$2"; shift 2 ;;
    --gets) GETS="$2"; shift 2 ;;
    --no-docs) DOCS=0; shift ;;
    *) echo "usage: bench/failover.sh [--rounds N] [--load SECONDS] [--gets N] [--no-docs]" >&2; exit 64 ;;
  esac
done

# shellcheck source=bench/common.sh
source bench/common.sh

if [ ! -x tools/azurite/node_modules/.bin/azurite ]; then
  log "installing Azurite (tools/azurite)"
  npm ci --prefix tools/azurite --no-audit --no-fund --loglevel=error
fi

log "building the tests (Release)"
dotnet build -c Release tests/Registry.Tests -nologo -v quiet

REPORT="$(mktemp "${TMPDIR:-/tmp}/registry-failover.XXXXXX")"
trap 'rm -f "$REPORT"' EXIT
log "$ROUNDS rounds, $LOAD s of traffic before each kill, $GETS GET loops"
STATUS=0
FAILOVER_ROUNDS="$ROUNDS" FAILOVER_LOAD_SECONDS="$LOAD" FAILOVER_GET_WORKERS="$GETS" FAILOVER_REPORT="$REPORT" \
  dotnet test tests/Registry.Tests -c Release --no-build -nologo \
  --filter "FullyQualifiedName~FailoverTests" --logger "console;verbosity=normal" || STATUS=$?
cat "$REPORT"

if [ "$DOCS" = 1 ] && [ -s "$REPORT" ]; then
  SETTINGS="$(env | grep '^Registry__' | sort | tr '\n' ' ' || true)"
  python3 - "$ROOT/docs/benchmarks-scaleout.md" "$REPORT" "$STATUS" "bench/failover.sh --rounds $ROUNDS --load $LOAD --gets $GETS" "$SETTINGS" <<'PY'
import re, sys, datetime
page, report, status, command, settings = sys.argv[1:]
rounds = [l.strip() for l in open(report) if l.startswith("round ")]
def figures(pattern):
    return [float(m.group(1)) for l in rounds for m in [re.search(pattern, l)] if m]
dead = figures(r"declared dead ([\d.]+) s")
p99 = figures(r"during the takeover [\d.]+/([\d.]+)/")
worst = figures(r"during the takeover [\d.]+/[\d.]+/([\d.]+) ms")
failed = sum(int(x) for l in rounds for x in re.findall(r"failed (\d+)", l))
absorbed = [l.split()[1] for l in open(report) if l.startswith("absorbed ")]
marker = "<!-- failover: bench/failover.sh -->"
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
lines = [marker, "", "## Failover: kill -9 of one of 3 replicas", "",
  f"Written by `{command}` on {now}{' with ' + settings.strip() if settings.strip() else ' with the default settings'}; the test run {'passed' if status == '0' else 'FAILED'}.",
  "Each round: 3 cluster-mode processes on one Azurite; 4 manifest GET loops (each request sent once, 30 s timeout) and skopeo with its default settings (no retry flags; pushes of new repositories and pulls of seeded ones, alternating) run through two of them while the third is killed with `kill -9`; a fresh replica replaces it before the next round. \"During the takeover\": GETs in flight at any time from the kill until 1 s after the membership table says Dead; \"before\": GETs that ended before the kill (the first include the activation of the round's repositories, and the machine is shared).",
  "",
  f"**{len(rounds)} rounds, {failed} failed requests.** Declared dead after {min(dead):.1f}–{max(dead):.1f} s (mean {sum(dead)/len(dead):.1f}); manifest GET p99 during the takeover {min(p99):.0f}–{max(p99):.0f} ms, the slowest GET {max(worst):.0f} ms" + (f"; {absorbed[0]} grain calls absorbed by the failover retries (replicas' logs)." if absorbed else "."),
  "", "```"] + rounds + ["```", ""]
text = open(page).read()
at = text.find(marker)
text = (text[:at].rstrip("\n") if at >= 0 else text.rstrip("\n")) + "\n\n" + "\n".join(lines)
open(page, "w").write(text)
PY
  log "wrote the failover section of docs/benchmarks-scaleout.md"
fi
exit "$STATUS"
