"""The counter API on a running three-node cluster: the seed scenario, totals under concurrency,
an Idempotency-Key retried on another node. The routes' contract (answers, batches, bad input)
is tested on one node without Ray: tests/unit/api/test_counters.py."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cluster.ops.local import LocalCluster
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_seed_scenario_passes_on_fresh_and_on_existing_data(cluster: LocalCluster):
    ports = ",".join(map(str, cluster.ports))
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts/seed_scenario.py"), "--ports", ports],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "scenario OK" in done.stdout


def test_concurrent_posts_add_up_exactly(cluster: LocalCluster):
    threads, per_thread = 20, 200
    before = cluster.counters()

    def worker(t: int) -> dict[str, int]:
        sent = {"load_all": 0, f"load_t{t}": 0}
        with httpx.Client(timeout=30) as client:
            for i in range(per_thread):
                increment = (t * per_thread + i) % 7
                response = client.post(
                    f"{cluster.urls[(t + i) % 3]}/metrics",
                    json={"labels": ["load_all", f"load_t{t}"], "increment": increment},
                )
                assert response.status_code == 200, response.text
                assert response.json()["load_all"] >= increment
                for label in sent:
                    sent[label] += increment
        return sent

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(worker, range(threads)))
    after = cluster.counters()
    assert after["load_all"] - before.get("load_all", 0) == sum(r["load_all"] for r in results)
    for t, sent in enumerate(results):
        assert after[f"load_t{t}"] - before.get(f"load_t{t}", 0) == sent[f"load_t{t}"]
    for node in range(3):  # every node reads the same state
        assert cluster.get(node, "/metrics").json()["load_all"] == after["load_all"]


def test_idempotency_key_retry_on_another_node_applies_once(cluster: LocalCluster):
    body = {"labels": ["idem"], "increment": 7}
    key = {"Idempotency-Key": "retry-test-1"}
    first = httpx.post(f"{cluster.urls[0]}/metrics", json=body, headers=key, timeout=15)
    again = httpx.post(f"{cluster.urls[2]}/metrics", json=body, headers=key, timeout=15)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert cluster.counters()["idem"] == first.json()["idem"]
    other = httpx.post(
        f"{cluster.urls[1]}/metrics", json={"labels": ["idem"], "increment": 8}, headers=key
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    assert cluster.counters()["idem"] == first.json()["idem"]
