"""The metricSys contract on one node: GET and POST /v1/hosts/metrics."""

from __future__ import annotations

import time

import pytest

from cluster.common.timeutil import rfc3339


def test_host_rows_newest_first_and_limit_zero_is_an_empty_list(client):
    future = rfc3339(time.time() + 3600)
    row = {
        "id": "it-host",
        "cpu_usage": 1.5,
        "memory_usage": 2,
        "disk_usage": 3,
        "timestamp": future,
    }
    older = {**row, "id": "older-host", "timestamp": rfc3339(time.time())}
    assert client.post("/v1/hosts/metrics", json=[older, row]).status_code == 201
    (newest,) = client.get("/v1/hosts/metrics?limit=1").json()["metrics"]
    assert newest == {**row, "memory_usage": 2.0, "disk_usage": 3.0}
    both = client.get("/v1/hosts/metrics?limit=5").json()["metrics"]
    assert [r["id"] for r in both] == ["it-host", "older-host"]
    assert client.get("/v1/hosts/metrics?limit=0").json() == {"metrics": []}


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?limit=",
        "?limit=abc",
        "?limit=-1",
        "?limit=1.5",
        "?limit=99999999999999999999",
        "?limit=%2B5",
        "?limit=" + "9" * 5000,
    ],
)
def test_bad_limit_is_a_400_not_every_row(client, query):
    response = client.get(f"/v1/hosts/metrics{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid limit query parameter"
