"""The loopstock contract on a real cluster: integers averaged over 5 s windows of event time."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from cluster.common.timeutil import rfc3339
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def post(cluster, node: int, body: object) -> httpx.Response:
    return httpx.post(f"{cluster.urls[node]}/v1/integers", json=body, timeout=15)


def test_integers_average_exactly_per_window_and_a_resend_counts_once(cluster):
    empty = cluster.get(0, "/v1/integers/last")  # no other test posts integers
    assert empty.status_code == 400
    assert empty.json() == {"code": "empty_database", "message": "No data found into database"}
    assert cluster.get(0, "/v1/integers").json() == []

    now = time.time()
    stamp = rfc3339(now)
    values = [7, 10_000, 1, 4242]
    for seq, value in enumerate(values):
        body = {"integer": value, "generator": "gen-1", "seq": seq, "timestamp": stamp}
        response = post(cluster, seq % 3, body)
        assert (response.status_code, response.content) == (201, b"")
    assert post(cluster, 2, {"integer": 7, "generator": "gen-1", "seq": 0, "timestamp": stamp})
    rows = wait_for(lambda: cluster.get(1, "/v1/integers").json(), 15, 0.2, "the window to close")
    (row,) = rows
    assert row["integer"] == sum(values) / len(values)  # exact, not truncated
    end = math.floor(now / 5) * 5 + 5
    assert row["created_at"] == rfc3339(end) and row["id"] == 1
    last = cluster.get(2, "/v1/integers/last")
    assert (last.status_code, last.json()) == (200, row)  # 200: the original's 201 was a bug


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"integer": 0}, "invalid_integer"),
        ({}, "invalid_integer"),
        ({"integer": -4}, "invalid_integer"),
        ({"integer": 2**32}, "invalid_integer"),
        ({"integer": 2**64}, "invalid_integer"),
        ({"integer": 3.5}, "invalid_body"),
        ({"integer": "5"}, "invalid_body"),
        ({"integer": 5, "generator": "g"}, "invalid_body"),
        ({"integer": 5, "timestamp": "2020-01-01T00:00:00Z"}, "late_integer"),
        ({"integer": 5, "timestamp": "soon"}, "invalid_body"),
    ],
)
def test_bad_integers_get_the_originals_codes(cluster, body, code):
    response = post(cluster, 0, body)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["message"]


def test_integer_body_that_is_not_json_is_invalid_body_whatever_its_content_type(cluster):
    response = httpx.post(
        f"{cluster.urls[0]}/v1/integers",
        content=b"nope",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_body"


def test_index_lists_the_endpoints(cluster):
    endpoints = cluster.get(0, "/v1").json()["endpoints"]
    assert endpoints["new_integer"] == {"method": "POST", "path": "/v1/integers"}
