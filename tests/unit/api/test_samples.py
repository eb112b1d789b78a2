"""The metrics-server and metricSys contracts on one node: shapes, errors, fixed bugs."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime

import pytest

from cluster.common.timeutil import rfc3339

FEB_1 = 1_706_745_600  # 2024-02-01T00:00:00Z
DAY = 86400
INVALID_PAYLOAD = "Invalid Payload. Please verify the request payload and try again."
A_SAMPLE = {"timestamp": "2024-02-02T11:00:00Z", "name": "it_temp", "value": 1}


def test_samples_average_per_bucket_newest_first_with_the_end_day_included(client):
    rng = random.Random(7)
    samples = [  # over three days; the last day is the end day of the query
        {"timestamp": rfc3339(FEB_1 + rng.randrange(3 * DAY)), "name": "it_temp", "value": v}
        for v in (rng.uniform(20, 40) for _ in range(60))
    ]
    for start in range(0, 60, 20):  # lists of 20
        response = client.post("/v1/metrics", json=samples[start : start + 20])
        assert (response.status_code, response.json()) == (201, {"status": "success"})
    one = {"timestamp": "2024-02-03T23:59:59.500Z", "name": "it_temp", "value": 10}
    assert client.post("/v1/metrics/", json=one).status_code == 201  # trailing slash too
    samples.append(one)

    expected = defaultdict(list)
    for s in samples:
        ts = datetime.fromisoformat(s["timestamp"]).timestamp()
        expected[rfc3339(int(ts // 3600) * 3600)].append(s["value"])
    body = client.get("/v1/metrics/it_temp/hour/2024-02-01/2024-02-03").json()
    assert body["metricName"] == "it_temp" and body["granularity"] == "hour"
    assert body["startTime"] == "2024-02-01T00:00:00Z"
    frames = [d["timeFrame"] for d in body["data"]]
    assert frames == sorted(expected, reverse=True)  # newest first, end day included
    for d in body["data"]:
        values = expected[d["timeFrame"]]
        assert d["avg"] == pytest.approx(sum(values) / len(values), rel=1e-12)
        assert (d["count"], d["min"], d["max"]) == (len(values), min(values), max(values))
    days = client.get("/v1/metrics/it_temp/day/2024-02-03/2024-02-03").json()["data"]
    assert [d["timeFrame"] for d in days] == ["2024-02-03T00:00:00Z"]
    assert client.get("/v1/metrics").json() == ["it_temp"]
    assert client.get("/v1/metrics/").json() == client.get("/v1/metrics").json()


def test_metric_names_are_sorted(client):
    for name in ("zeta", "alpha", "mid"):
        assert client.post("/v1/metrics", json={**A_SAMPLE, "name": name}).status_code == 201
    assert client.get("/v1/metrics").json() == ["alpha", "mid", "zeta"]
    assert client.get("/v1/metrics/").json() == ["alpha", "mid", "zeta"]


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
def test_range_query_errors_name_what_is_wrong(client, path, status, message, in_detail):
    assert client.post("/v1/metrics", json=A_SAMPLE).status_code == 201  # it_temp exists
    response = client.get(path)
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
    client, body, in_detail
):
    response = client.post("/v1/metrics", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == INVALID_PAYLOAD
    assert in_detail in response.json()["detail"]
    assert client.get("/v1/metrics").json() == []


def test_sample_without_json_content_type_is_a_400_as_in_the_original(client):
    response = client.post(
        "/v1/metrics",
        content=b'{"timestamp":"2024-02-02T11:00:00Z","name":"form","value":1}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400 and response.json()["message"] == INVALID_PAYLOAD
    assert client.get("/v1/metrics").json() == []


def test_ping_and_health_answer_in_the_originals_shape(client):
    assert client.get("/ping").json() == {"status": "up"}
    health = client.get("/health").json()
    assert health["status"] == "up"
    assert health["resources"][0]["status"] == "up"
    assert health["actor"]["state"] == "alive"
