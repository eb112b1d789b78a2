"""The metrics-server and metricSys contracts on a real cluster: shapes, errors, fixed bugs."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import datetime

import httpx
import pytest

from cluster.common.timeutil import rfc3339
from cluster.ops.local import LocalCluster
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

FEB_1 = 1_706_745_600  # 2024-02-01T00:00:00Z
DAY = 86400
INVALID_PAYLOAD = "Invalid Payload. Please verify the request payload and try again."


def post(cluster: LocalCluster, node: int, path: str, body: object, **kwargs) -> httpx.Response:
    return httpx.post(f"{cluster.urls[node]}{path}", json=body, timeout=15, **kwargs)


def test_samples_average_per_bucket_newest_first_with_the_end_day_included(cluster):
    rng = random.Random(7)
    samples = [  # over three days; the last day is the end day of the query
        {"timestamp": rfc3339(FEB_1 + rng.randrange(3 * DAY)), "name": "it_temp", "value": v}
        for v in (rng.uniform(20, 40) for _ in range(60))
    ]
    for node, start in enumerate(range(0, 60, 20)):  # a list per node, spread over the nodes
        response = post(cluster, node, "/v1/metrics", samples[start : start + 20])
        assert (response.status_code, response.json()) == (201, {"status": "success"})
    one = {"timestamp": "2024-02-03T23:59:59.500Z", "name": "it_temp", "value": 10}
    assert post(cluster, 1, "/v1/metrics/", one).status_code == 201  # trailing slash too
    samples.append(one)

    expected = defaultdict(list)
    for s in samples:
        ts = datetime.fromisoformat(s["timestamp"]).timestamp()
        expected[rfc3339(int(ts // 3600) * 3600)].append(s["value"])
    body = cluster.get(2, "/v1/metrics/it_temp/hour/2024-02-01/2024-02-03").json()
    assert body["metricName"] == "it_temp" and body["granularity"] == "hour"
    assert body["startTime"] == "2024-02-01T00:00:00Z"
    frames = [d["timeFrame"] for d in body["data"]]
    assert frames == sorted(expected, reverse=True)  # newest first, end day included
    for d in body["data"]:
        values = expected[d["timeFrame"]]
        assert d["avg"] == pytest.approx(sum(values) / len(values), rel=1e-12)
        assert (d["count"], d["min"], d["max"]) == (len(values), min(values), max(values))
    days = cluster.get(0, "/v1/metrics/it_temp/day/2024-02-03/2024-02-03").json()["data"]
    assert [d["timeFrame"] for d in days] == ["2024-02-03T00:00:00Z"]
    assert "it_temp" in cluster.get(0, "/v1/metrics").json()
    assert cluster.get(0, "/v1/metrics/").json() == sorted(cluster.get(0, "/v1/metrics").json())


@pytest.mark.parametrize(
    ("path", "status", "message", "in_detail"),
    [
        ("/v1/metrics/it_temp/daily/2024-02-01/2024-02-03", 400, "Invalid granularity", "daily"),
        ("/v1/metrics/it_temp/week/2024-02-01/2024-02-03", 400, "Invalid granularity", "week"),
        (
            "/v1/metrics/it_temp/hour/2024-Feb-01/2024-",
            400,
            "Invalid startDate format",
            "2024-Feb-01",
        ),
        ("/v1/metrics/it_temp/hour/2024-02-01/2024-", 400, "Invalid endDate format", "2024-"),
        ("/v1/metrics/it_temp/hour/2024-02-03/2024-02-01", 400, "Invalid date range", "after"),
        ("/v1/metrics/no_such_metric/hour/2024-02-01/2024-02-03", 404, "Resource Not Found", ""),
    ],
)
def test_range_query_errors_name_what_is_wrong(cluster, path, status, message, in_detail):
    response = cluster.get(0, path)
    assert response.status_code == status
    assert response.json()["message"] == message
    assert in_detail in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "in_detail"),
    [
        ({"timestamp": "2024-02-02", "name": "bad", "value": 1}, "'2024-02-02'"),
        ({"timestamp": "yesterday", "name": "bad", "value": 1}, "'yesterday'"),
        ({"timestamp": "2024-02-02T11:00:00", "name": "bad", "value": 1}, "offset"),
        ({"timestamp": "2999-01-01T00:00:00Z", "name": "bad", "value": 1}, "ahead"),
        ({"timestamp": "2024-02-02T11:00:00Z", "name": "bad", "value": "30"}, "value"),
        ({"timestamp": "2024-02-02T11:00:00Z", "name": "", "value": 1}, "name"),
        ({"timestamp": "2024-02-02T11:00:00Z", "value": 1}, "name"),
        ([], "empty"),
        ({"timestamp": "0001-01-01T00:00:00+14:00", "name": "bad", "value": 1}, "1970"),
        ({"timestamp": "2024-02-02T11:00:00Z", "name": "bad/x", "value": 1}, "'/'"),
        ({"timestamp": "2024-02-02T11:00:00Z", "name": "bad", "value": 1e200}, "value"),
        ([{"timestamp": "2024-02-02T11:00:00Z", "name": "bad", "value": 1}, {"name": 3}], "1"),
    ],
)
def test_bad_samples_are_refused_with_the_offending_value_and_store_nothing(
    cluster, body, in_detail
):
    response = post(cluster, 0, "/v1/metrics", body)
    assert response.status_code == 400
    assert response.json()["message"] == INVALID_PAYLOAD
    assert in_detail in response.json()["detail"]
    assert "bad" not in cluster.get(0, "/v1/metrics").json()


def test_sample_without_json_content_type_is_a_400_as_in_the_original(cluster):
    response = httpx.post(
        f"{cluster.urls[0]}/v1/metrics",
        content=b'{"timestamp":"2024-02-02T11:00:00Z","name":"form","value":1}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400 and response.json()["message"] == INVALID_PAYLOAD


def test_ping_and_health_answer_in_the_originals_shape(cluster):
    assert cluster.get(1, "/ping").json() == {"status": "up"}
    health = cluster.get(1, "/health").json()
    assert health["status"] == "up"
    assert health["resources"][0]["status"] in ("up", "not created")


def test_host_agent_started_by_run_sh_reports_this_host(cluster):
    rows = wait_for(
        lambda: cluster.get(0, "/v1/hosts/metrics?limit=3").json()["metrics"], 30, 0.2, "rows"
    )
    assert set(rows[0]) == {"id", "cpu_usage", "memory_usage", "disk_usage", "timestamp"}
    assert all(0 <= r[k] <= 100 for r in rows for k in ("cpu_usage", "memory_usage", "disk_usage"))
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_host_rows_newest_first_and_limit_zero_is_an_empty_list(cluster):
    future = rfc3339(time.time() + 3600)
    row = {
        "id": "it-host",
        "cpu_usage": 1.5,
        "memory_usage": 2,
        "disk_usage": 3,
        "timestamp": future,
    }
    assert post(cluster, 2, "/v1/hosts/metrics", [row]).status_code == 201
    (newest,) = cluster.get(1, "/v1/hosts/metrics?limit=1").json()["metrics"]
    assert newest == {**row, "memory_usage": 2.0, "disk_usage": 3.0}
    assert cluster.get(0, "/v1/hosts/metrics?limit=0").json() == {"metrics": []}


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
def test_bad_limit_is_a_400_not_every_row(cluster, query):
    response = cluster.get(0, f"/v1/hosts/metrics{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid limit query parameter"
