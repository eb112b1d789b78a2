"""The route tests need no Ray: the app, the node and tests.fakes import nothing of it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import sys, tempfile
from pathlib import Path

from starlette.testclient import TestClient

from api.app import create_app
from cluster.common.config import Settings
from cluster.node.node import Node
from tests.fakes import InProcessStore

data = Path(tempfile.mkdtemp())
settings = Settings(data_dir=data, nodes=[{"name": "solo", "port": 4000}], node_name="solo")
node = Node(settings, InProcessStore(settings.db_path))
with TestClient(create_app(settings, node=node)) as client:
    posted = client.post("/metrics", json={"labels": ["no_ray"], "increment": 3})
    assert (posted.status_code, posted.json()) == (200, {"no_ray": 3}), posted.text
    read = client.get("/metrics")
    assert (read.status_code, read.json()) == (200, {"no_ray": 3}), read.text
loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
assert not loaded, f"Ray was imported: {loaded[:5]}"
print("no ray")
"""


def test_the_app_serves_over_the_fake_store_without_importing_ray(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "METRICS_CONFIG": str(tmp_path / "empty.toml")}
    (tmp_path / "empty.toml").write_text("")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "no ray"
