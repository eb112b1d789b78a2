#!/usr/bin/env bash
# The original project's three-node scenario, with assertions (scripts/seed_scenario.py).
# Uses the cluster answering on SCENARIO_PORTS (default 4000,4001,4002); if none answers,
# starts one with a temporary data dir and stops it afterwards. Exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
host="${SCENARIO_HOST:-127.0.0.1}"
ports="${SCENARIO_PORTS:-4000,4001,4002}"

scenario=(.venv/bin/python scripts/seed_scenario.py --host "$host" --ports "$ports")

if ! "${scenario[@]}" --probe; then
    data_dir="$(mktemp -d -t metrics-scenario.XXXXXX)"
    nodes=""
    for port in ${ports//,/ }; do
        nodes="${nodes:+$nodes,}{\"name\":\"node-$port\",\"host\":\"$host\",\"port\":$port}"
    done
    export METRICS_DATA_DIR="$data_dir" METRICS_NODES="[$nodes]"
    cleanup() { ./run.sh stop >/dev/null || true; rm -rf "$data_dir"; }
    trap cleanup EXIT
    echo "no cluster on $host:$ports; starting one in $data_dir"
    ./run.sh start
fi

"${scenario[@]}"
