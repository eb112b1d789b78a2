"""The data-ingestion contract on a real cluster: POST /event and its reads, /debug/vars."""

from __future__ import annotations

import concurrent.futures
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cluster.common.timeutil import day_of
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

EVENTS = [  # username, metric, count
    ("it_ann", "it_call", 10),
    ("it_bob", "it_call", 30),
    ("it_ann", "it_call", 5),
    ("it_ann", "it_view", 7),
]


def send(cluster, node: int, body: object, content_type: str = "application/json"):
    return httpx.post(
        f"{cluster.urls[node]}/event",
        content=httpx.Request("POST", "/", json=body).content,
        headers={"Content-Type": content_type},
        timeout=15,
    )


def test_events_count_and_feed_every_read(cluster):
    before = cluster.counters()
    started = time.time()
    for i, (user, metric, count) in enumerate(EVENTS):
        response = send(cluster, i % 3, {"username": user, "metric": metric, "count": count})
        assert (response.status_code, response.content) == (200, b"")
    after = cluster.counters()
    assert after["it_call"] - before.get("it_call", 0) == 45
    assert after["it_view"] - before.get("it_view", 0) == 7

    daily = cluster.get(1, f"/v1/events/it_call/distinct_users?day={day_of(time.time())}").json()
    assert (daily["distinct_users"], daily["events"], daily["total"]) == (2, 3, 45)
    assert cluster.get(1, "/v1/events/it_call/distinct_users").json() == daily  # today
    other_day = cluster.get(1, "/v1/events/it_call/distinct_users?day=2020-01-01").json()
    assert other_day["distinct_users"] == 0

    totals = {r["_id"]: r for r in cluster.get(2, "/metrics/hourly_logs/total").json()}
    call = totals["it_call"]
    assert (call["count"], call["minimum"], call["maximum"]) == (3, 5, 30)
    assert call["average"] == pytest.approx(statistics.mean([10, 30, 5]))
    per_user = cluster.get(0, "/metrics/hourly_logs/per_user/").json()
    ann = next(r for r in per_user if r["_id"] == {"metric": "it_call", "username": "it_ann"})
    assert (ann["count"], ann["minimum"], ann["maximum"], ann["average"]) == (2, 5, 10, 7.5)

    seen = cluster.get(2, "/v1/users/it_ann").json()
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
def test_bad_events_are_refused_and_change_nothing(cluster, body, content_type, in_detail):
    before = cluster.counters()
    response = send(cluster, 0, body, content_type)
    assert response.status_code == 400
    assert in_detail in response.json()["detail"]
    assert cluster.counters() == before


def test_unknown_user_and_metric_are_404_and_a_bad_day_400(cluster):
    assert cluster.get(0, "/v1/users/nobody_at_all").status_code == 404
    assert cluster.get(0, "/v1/events/never_sent/distinct_users").status_code == 404
    assert cluster.get(0, "/v1/events/it_call/distinct_users?day=2024-13-01").status_code == 400


def test_debug_vars_is_valid_json_under_concurrent_requests(cluster):
    url = cluster.urls[1]
    with httpx.Client(timeout=15) as client, concurrent.futures.ThreadPoolExecutor(8) as pool:

        def hit(i: int) -> int:
            path = "/debug/vars" if i % 4 == 0 else "/ping" if i % 4 == 1 else "/nope"
            response = client.get(f"{url}{path}")
            if path == "/debug/vars":
                response.json()  # must parse while others are being counted
            return response.status_code

        codes = list(pool.map(hit, range(200)))
    assert codes.count(404) == 100
    stats = httpx.get(f"{url}/debug/vars").json()
    requests = stats["serverMetrics"]["requests"]
    assert requests["total"] >= 200 and requests["failed"] >= 100
    assert stats["routes"]["GET /ping"]["200"] >= 50
    assert stats["latency_ms"]["p99"] is not None
    assert stats["rss_bytes"] > 0


def test_locustfile_runs_a_bounded_load_without_failures(cluster):
    locust = Path(sys.executable).with_name("locust")
    argv = [str(locust), "-f", str(ROOT / "scripts" / "locustfile.py"), "--headless"]
    argv += ["-u", "5", "-r", "5", "-t", "3s", "--host", cluster.urls[2], "--only-summary"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "POST" in done.stderr + done.stdout
