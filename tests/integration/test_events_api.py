"""The data-ingestion API on a real cluster: events sent to every node, read from each, and the
locustfile's load. The routes' contract (reads, bad events, /debug/vars) is tested on one node
without Ray: tests/unit/api/test_events.py."""

from __future__ import annotations

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


def test_events_sent_to_every_node_count_once_and_are_read_from_each(cluster):
    before = cluster.counters()
    for i, (user, metric, count) in enumerate(EVENTS):
        response = send(cluster, i % 3, {"username": user, "metric": metric, "count": count})
        assert (response.status_code, response.content) == (200, b"")
    after = cluster.counters()
    assert after["it_call"] - before.get("it_call", 0) == 45
    assert after["it_view"] - before.get("it_view", 0) == 7
    day = day_of(time.time())
    answers = [
        cluster.get(node, f"/v1/events/it_call/distinct_users?day={day}").json()
        for node in range(3)
    ]
    assert answers[0] == answers[1] == answers[2]  # the same answer from every node
    assert answers[0]["distinct_users"] >= 2 and answers[0]["total"] >= 45


def test_locustfile_runs_a_bounded_load_without_failures(cluster):
    locust = Path(sys.executable).with_name("locust")
    argv = [str(locust), "-f", str(ROOT / "scripts" / "locustfile.py"), "--headless"]
    argv += ["-u", "5", "-r", "5", "-t", "3s", "--host", cluster.urls[2], "--only-summary"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "POST" in done.stderr + done.stdout
