#!/usr/bin/env bash
# Creates .venv and installs the project (pinned in pyproject.toml) when missing or when
# pyproject.toml changed since the last install. Sourced by run.sh, test.sh, test_distributed.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.installed"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing into $venv (first use or pyproject.toml changed)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -e "$root[dev]"
    echo "$want" > "$stamp"
fi
