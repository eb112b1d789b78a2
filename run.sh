#!/usr/bin/env bash
# ./run.sh            start the Ray head and the three nodes in the foreground (Ctrl-C stops all)
# ./run.sh start      the same in the background; returns when every node answers /health
# ./run.sh stop       stop exactly what was started, by pid
# ./run.sh status     show what runs
# Configuration: cluster.toml and METRICS_* environment variables (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
exec .venv/bin/python -m cluster.ops.supervisor "${@:-run}"
