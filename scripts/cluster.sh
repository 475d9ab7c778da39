#!/usr/bin/env bash
# Starts a local 3-replica registry cluster on Azurite (the Azure Storage emulator):
# replicas on http://127.0.0.1:5001, :5002 and :5003, sharing blobs, grain state, membership and
# event streams in Azurite. Ctrl+C stops everything. Data lives in memory (Azurite) only.
set -euo pipefail
cd "$(dirname "$0")/.."

replicas=${REPLICAS:-3}
if [ ! -x tools/azurite/node_modules/.bin/azurite ]; then
    echo "cluster.sh: installing Azurite (tools/azurite)"
    npm ci --prefix tools/azurite --no-audit --no-fund --loglevel=error
fi

dotnet build -c Release Api/Api.csproj -v quiet -nologo

azurite_pid=""
replica_pids=()
alive() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
# Replicas first, while Azurite still answers (a silo leaves the membership table on its way
# out), at most 15 s; then Azurite.
cleanup() {
    trap - EXIT INT TERM
    if [ ${#replica_pids[@]} -gt 0 ]; then
        kill "${replica_pids[@]}" 2>/dev/null || true
        for _ in $(seq 1 30); do alive "${replica_pids[@]}" || break; sleep 0.5; done
        kill -9 "${replica_pids[@]}" 2>/dev/null || true
    fi
    if [ -n "$azurite_pid" ]; then kill "$azurite_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tools/azurite/node_modules/.bin/azurite --silent --inMemoryPersistence --skipApiVersionCheck --loose \
    --blobHost 127.0.0.1 --blobPort 10000 --queueHost 127.0.0.1 --queuePort 10001 --tableHost 127.0.0.1 --tablePort 10002 &
azurite_pid=$!

key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="   # Azurite's public development key
export Registry__Mode=Cluster
export Registry__Azure__ConnectionString="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
export Registry__Cluster__AdvertisedAddress=127.0.0.1
# Access control off: the replicas listen on loopback only (docs/security.md, Defaults).
export Registry__Access__Enabled=false

for i in $(seq 1 "$replicas"); do
    Registry__Listen="http://127.0.0.1:500$i" Registry__Cluster__SiloPort="1111$i" \
        dotnet Api/bin/Release/net10.0/Registry.Api.dll &
    replica_pids+=($!)
done

for i in $(seq 1 "$replicas"); do
    until curl -fs "http://127.0.0.1:500$i/readyz" >/dev/null 2>&1; do sleep 1; done
    echo "cluster.sh: replica $i ready at http://127.0.0.1:500$i"
done
echo "cluster.sh: ${replicas} replicas up; Ctrl+C stops them and Azurite"
wait
