"""The loopstock API on a real cluster: integers posted to every node are averaged in one window,
and a resend to another node counts once. The routes' contract (codes, bodies, the empty
database) is tested on one node without Ray: tests/unit/api/test_integers.py."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from cluster.common.timeutil import rfc3339
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

WINDOW = 5  # the default integer_window, in seconds


def post(cluster, node: int, body: object) -> httpx.Response:
    return httpx.post(f"{cluster.urls[node]}/v1/integers", json=body, timeout=15)


def test_integers_posted_to_every_node_average_in_one_window_and_a_resend_counts_once(cluster):
    now = time.time()
    stamp = rfc3339(now)
    values = [7, 10_000, 1, 4242]
    for seq, value in enumerate(values):
        body = {"integer": value, "generator": "it-cross-node", "seq": seq, "timestamp": stamp}
        response = post(cluster, seq % 3, body)
        assert (response.status_code, response.content) == (201, b"")
    resend = {"integer": 7, "generator": "it-cross-node", "seq": 0, "timestamp": stamp}
    assert post(cluster, 2, resend).status_code == 201  # accepted by another node, not counted
    # Other tests may post integers too: this test's window is the one ending at `end`.
    end = rfc3339(math.floor(now / WINDOW) * WINDOW + WINDOW)

    def closed() -> dict | None:
        rows = cluster.get(1, "/v1/integers").json()
        return next((r for r in rows if r["created_at"] == end), None)

    row = wait_for(closed, 15, 0.2, "the window to close")
    assert row["integer"] == sum(values) / len(values)  # exact, not truncated
