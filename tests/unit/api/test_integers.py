"""The loopstock contract on one node: integers averaged over tumbling windows of event time."""

from __future__ import annotations

import math
import time

import pytest

from cluster.common.timeutil import rfc3339
from tests.conftest import wait_for

# Short windows, so that one closes within the test (the default is 5 s plus 1 s of grace).
WINDOW, GRACE = 0.25, 0.25


def test_integers_average_exactly_per_window_and_a_resend_counts_once(make_client):
    client = make_client(record_limits={"integer_window": WINDOW, "integer_grace": GRACE})
    empty = client.get("/v1/integers/last")  # a fresh actor: no integers yet
    assert empty.status_code == 400
    assert empty.json() == {"code": "empty_database", "message": "No data found into database"}
    assert client.get("/v1/integers").json() == []

    now = time.time()
    stamp = rfc3339(now)
    values = [7, 10_000, 1, 4242]
    for seq, value in enumerate(values):
        body = {"integer": value, "generator": "gen-1", "seq": seq, "timestamp": stamp}
        response = client.post("/v1/integers", json=body)
        assert (response.status_code, response.content) == (201, b"")
    resend = {"integer": 7, "generator": "gen-1", "seq": 0, "timestamp": stamp}
    assert client.post("/v1/integers", json=resend).status_code == 201  # accepted, not counted
    rows = wait_for(lambda: client.get("/v1/integers").json(), 5, 0.05, "the window to close")
    (row,) = rows
    assert row["integer"] == sum(values) / len(values)  # exact, not truncated
    end = math.floor(now / WINDOW) * WINDOW + WINDOW
    assert row["created_at"] == rfc3339(end) and row["id"] == 1
    last = client.get("/v1/integers/last")
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
def test_bad_integers_get_the_originals_codes(client, body, code):
    response = client.post("/v1/integers", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["message"]


def test_integer_body_that_is_not_json_is_invalid_body_whatever_its_content_type(client):
    response = client.post(
        "/v1/integers",
        content=b"nope",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_body"


def test_index_lists_the_endpoints(client):
    endpoints = client.get("/v1").json()["endpoints"]
    assert endpoints["new_integer"] == {"method": "POST", "path": "/v1/integers"}
