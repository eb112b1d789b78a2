"""The metrics-server and metricSys APIs on a real cluster: samples posted to several nodes are
read from another, and the host agent run.sh starts reports this host. The routes' contract
(shapes, errors, fixed bugs) is tested on one node without Ray: tests/unit/api/test_samples.py
and test_hosts.py."""

from __future__ import annotations

import httpx
import pytest

from cluster.ops.local import LocalCluster
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_samples_posted_to_two_nodes_are_read_from_a_third(cluster: LocalCluster):
    name = "it_cross_node"
    for node, (stamp, value) in enumerate(
        [("2024-02-01T10:15:00Z", 20.0), ("2024-02-01T10:45:00Z", 40.0)]
    ):
        sample = {"timestamp": stamp, "name": name, "value": value}
        response = httpx.post(f"{cluster.urls[node]}/v1/metrics", json=[sample], timeout=15)
        assert (response.status_code, response.json()) == (201, {"status": "success"})
    body = cluster.get(2, f"/v1/metrics/{name}/hour/2024-02-01/2024-02-01").json()
    (bucket,) = body["data"]
    assert bucket["timeFrame"] == "2024-02-01T10:00:00Z"
    assert (bucket["avg"], bucket["count"], bucket["min"], bucket["max"]) == (30.0, 2, 20.0, 40.0)
    assert name in cluster.get(2, "/v1/metrics").json()


def test_host_agent_started_by_run_sh_reports_this_host(cluster):
    rows = wait_for(
        lambda: cluster.get(0, "/v1/hosts/metrics?limit=3").json()["metrics"], 30, 0.2, "rows"
    )
    assert set(rows[0]) == {"id", "cpu_usage", "memory_usage", "disk_usage", "timestamp"}
    assert all(0 <= r[k] <= 100 for r in rows for k in ("cpu_usage", "memory_usage", "disk_usage"))
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
