#!/usr/bin/env bash
# Everything that must pass: lint, the original scenario (test_distributed.sh, on one shard and
# on four), then pytest
# (unit, and integration against a real Ray head and real uvicorn nodes). Extra arguments go to
# pytest, e.g. ./test.sh -m "not integration".
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== test_distributed.sh"
./test_distributed.sh
echo "== test_distributed.sh, four shards"
METRICS_SHARDS=4 ./test_distributed.sh
echo "== pytest"
# pytest exits 5 when it collected no test; set -e makes that a failure too.
.venv/bin/python -m pytest "$@"
