#!/usr/bin/env bash
# The original project's three-node scenario, with assertions (scripts/seed_scenario.py).
# Uses the cluster answering on the configured nodes (Settings().nodes: cluster.toml,
# METRICS_NODES, else 127.0.0.1:4000,4001,4002); SCENARIO_PORTS (comma-separated) and
# SCENARIO_HOST override their ports and host. If none answers, starts a cluster on exactly those
# nodes with a temporary data dir and stops it afterwards. Exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh

scenario=(.venv/bin/python scripts/seed_scenario.py)
if [[ -n "${SCENARIO_HOST:-}" ]]; then scenario+=(--host "$SCENARIO_HOST"); fi
if [[ -n "${SCENARIO_PORTS:-}" ]]; then scenario+=(--ports "$SCENARIO_PORTS"); fi
nodes="$("${scenario[@]}" --print-nodes)"  # exits 1 (set -e) on a bad override or config

if ! "${scenario[@]}" --probe; then
    data_dir="$(mktemp -d -t metrics-scenario.XXXXXX)"
    export METRICS_DATA_DIR="$data_dir" METRICS_NODES="$nodes"
    cleanup() { ./run.sh stop >/dev/null || true; rm -rf "$data_dir"; }
    trap cleanup EXIT
    echo "no cluster answers on the scenario's nodes; starting one in $data_dir"
    ./run.sh start
fi

"${scenario[@]}"
