"""The data-ingestion contract on one node: POST /event and its reads, and /debug/vars."""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import time

import pytest

from cluster.common.timeutil import day_of

EVENTS = [  # username, metric, count
    ("it_ann", "it_call", 10),
    ("it_bob", "it_call", 30),
    ("it_ann", "it_call", 5),
    ("it_ann", "it_view", 7),
]


def send(client, body: object, content_type: str = "application/json"):
    return client.post(
        "/event", content=json.dumps(body).encode(), headers={"Content-Type": content_type}
    )


def test_events_count_and_feed_every_read(client):
    started = time.time()
    for user, metric, count in EVENTS:
        response = send(client, {"username": user, "metric": metric, "count": count})
        assert (response.status_code, response.content) == (200, b"")
    assert client.get("/metrics").json() == {"it_call": 45, "it_view": 7}

    daily = client.get(f"/v1/events/it_call/distinct_users?day={day_of(time.time())}").json()
    assert (daily["distinct_users"], daily["events"], daily["total"]) == (2, 3, 45)
    assert client.get("/v1/events/it_call/distinct_users").json() == daily  # today
    other_day = client.get("/v1/events/it_call/distinct_users?day=2020-01-01").json()
    assert other_day["distinct_users"] == 0

    totals = {r["_id"]: r for r in client.get("/metrics/hourly_logs/total").json()}
    call = totals["it_call"]
    assert (call["count"], call["minimum"], call["maximum"]) == (3, 5, 30)
    assert call["average"] == pytest.approx(statistics.mean([10, 30, 5]))
    per_user = client.get("/metrics/hourly_logs/per_user/").json()
    ann = next(r for r in per_user if r["_id"] == {"metric": "it_call", "username": "it_ann"})
    assert (ann["count"], ann["minimum"], ann["maximum"], ann["average"]) == (2, 5, 10, 7.5)

    seen = client.get("/v1/users/it_ann").json()
    assert started - 1 <= seen["first_seen"] <= time.time() + 1
    assert seen["first_seen_at"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "content_type", "in_detail"),
    [
        ({"username": "x", "metric": "m", "count": 1}, "text/plain", "content-type"),
        ({"username": "x", "metric": "m", "count": 1}, "application/xml", "content-type"),
        ({"username": "x", "metric": "m"}, "application/json", "count"),
        ({"metric": "m", "count": 1}, "application/json", "username"),
        ({"username": "x", "metric": "m", "count": -1}, "application/json", "count"),
        ({"username": "x", "metric": "m", "count": "1"}, "application/json", "count"),
        ({"username": "x", "metric": "", "count": 1}, "application/json", "metric"),
    ],
)
def test_bad_events_are_refused_and_change_nothing(client, body, content_type, in_detail):
    assert send(client, {"username": "x", "metric": "m", "count": 2}).status_code == 200
    before = client.get("/metrics").json()
    response = send(client, body, content_type)
    assert response.status_code == 400
    assert in_detail in response.json()["detail"]
    assert client.get("/metrics").json() == before
    assert client.get("/metrics/hourly_logs/total").json()[0]["count"] == 1  # no event added


def test_unknown_user_and_metric_are_404_and_a_bad_day_400(client):
    assert send(client, {"username": "it_ann", "metric": "it_call", "count": 1}).status_code == 200
    assert client.get("/v1/users/nobody_at_all").status_code == 404
    assert client.get("/v1/events/never_sent/distinct_users").status_code == 404
    assert client.get("/v1/events/it_call/distinct_users?day=2024-13-01").status_code == 400
    # An empty day is no date (it was read as today); only a missing one means today.
    assert client.get("/v1/events/it_call/distinct_users?day=").status_code == 400


def test_debug_vars_is_valid_json_under_concurrent_requests(client):
    def hit(i: int) -> int:
        path = "/debug/vars" if i % 4 == 0 else "/ping" if i % 4 == 1 else "/nope"
        response = client.get(path)
        if path == "/debug/vars":
            json.loads(response.text)  # must parse while others are being counted
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(hit, range(200)))
    assert codes.count(404) == 100
    stats = client.get("/debug/vars").json()
    requests = stats["serverMetrics"]["requests"]
    # Exact: this node served nothing else, and a snapshot does not count its own request.
    assert (requests["total"], requests["failed"]) == (200, 100)
    assert stats["routes"]["GET /ping"]["200"] == 50
    assert stats["routes"]["GET /debug/vars"]["200"] == 50
    assert stats["routes"]["GET (unmatched)"]["404"] == 100
    assert stats["latency_ms"]["p99"] is not None
    assert stats["rss_bytes"] > 0
