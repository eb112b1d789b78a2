"""A client that keeps sending big bodies the node refuses gets 429 for its next big bodies;
its small requests, and big bodies that are accepted, are never held back."""

from __future__ import annotations

import time

import orjson
import pytest
from starlette.testclient import TestClient

from api.penalty import _MAX_CLIENTS, _PER_ADDRESS, RefusedBodies
from tests.conftest import wait_for

SMALL = {"penalty_refusals": 2, "penalty_body_bytes": 1024}
JSON = {"Content-Type": "application/json"}


def big_batch(label: str, items: int = 100) -> bytes:
    return orjson.dumps({"items": [{"labels": [label], "increment": 1}] * items})


def bad_big() -> bytes:
    return b"[" * 2000  # 2 KB that is not a batch: 400


def test_after_refused_big_bodies_the_next_big_body_gets_429_and_changes_nothing(make_client):
    client = make_client(settings={**SMALL, "penalty_seconds": 60})
    for _ in range(2):
        assert client.post("/metrics/batch", content=bad_big(), headers=JSON).status_code == 400
    held = client.post("/metrics/batch", content=big_batch("held"), headers=JSON)
    assert held.status_code == 429, held.text
    assert 1 <= int(held.headers["retry-after"]) <= 60
    assert "2 refused bodies of 1024 bytes" in held.json()["detail"]
    # Small requests from the same client go on; nothing of the held batch was applied.
    assert client.post("/metrics", json={"labels": ["small"], "increment": 1}).status_code == 200
    assert client.get("/metrics").json() == {"small": 1}
    # The original systems' routes answer in their own error shape.
    samples = orjson.dumps([{"timestamp": "2024-02-02T11:43:02Z", "name": "t", "value": 1}] * 30)
    held = client.post("/v1/metrics", content=samples, headers=JSON)
    assert held.status_code == 429 and "message" in held.json()


def test_the_hold_ends_when_the_refusals_are_old_enough(make_client):
    client = make_client(settings={**SMALL, "penalty_seconds": 2})
    for _ in range(2):
        client.post("/metrics/batch", content=bad_big(), headers=JSON)

    def accepted() -> bool:
        answer = client.post("/metrics/batch", content=big_batch("later"), headers=JSON)
        assert answer.status_code in (200, 429), answer.text
        return answer.status_code == 200

    assert (
        client.post("/metrics/batch", content=big_batch("later"), headers=JSON).status_code == 429
    )
    wait_for(accepted, timeout=10, what="big bodies accepted again after the window")


def test_accepted_big_bodies_and_small_refused_ones_never_hold_a_client_back(make_client):
    client = make_client(settings=SMALL)
    for _ in range(5):
        assert (
            client.post("/metrics/batch", content=big_batch("bulk"), headers=JSON).status_code
            == 200
        )
        assert client.post("/metrics/batch", content=b"[", headers=JSON).status_code == 400
    assert client.get("/metrics").json() == {"bulk": 500}


def test_zero_turns_it_off(make_client):
    client = make_client(settings={**SMALL, "penalty_refusals": 0})
    for _ in range(4):
        assert client.post("/metrics/batch", content=bad_big(), headers=JSON).status_code == 400


def test_the_addresses_remembered_are_bounded_and_their_refusals_age_out(make_client):
    client = make_client(settings={**SMALL, "penalty_seconds": 10})
    refused: RefusedBodies = client.app.state.refused_bodies
    now = time.monotonic()
    for i in range(_MAX_CLIENTS + 50):
        refused.refused(f"10.0.{i // 256}.{i % 256}", now)
    assert len(refused._refused) == _MAX_CLIENTS
    host = "10.9.9.9"
    refused.refused(host, now)
    assert refused.wait(host, now) == 0  # one refusal: not held back
    refused.refused(host, now + 1)
    assert refused.wait(host, now + 1.1) == pytest.approx(8.9)  # until the first is 10 s old
    assert refused.wait(host, now + 10.5) == 0
    assert host in refused._refused  # one refusal left in the window
    assert refused.wait(host, now + 11.5) == 0 and host not in refused._refused


def chunked(body: bytes):
    """A body without a Content-Length (sent chunked)."""
    yield body[: len(body) // 2]
    yield body[len(body) // 2 :]


def test_chunked_bodies_count_and_are_held_back_by_their_size(make_client):
    client = make_client(settings={**SMALL, "penalty_seconds": 60})
    for _ in range(2):
        answer = client.post("/metrics/batch", content=chunked(bad_big()), headers=JSON)
        assert answer.status_code == 400
    held = client.post("/metrics/batch", content=chunked(big_batch("held")), headers=JSON)
    assert held.status_code == 429, held.text
    small = orjson.dumps({"labels": ["small"], "increment": 1})
    assert client.post("/metrics", content=chunked(small), headers=JSON).status_code == 200
    assert client.get("/metrics").json() == {"small": 1}


def test_only_the_routes_that_read_a_body_hold_a_client_back(make_client):
    client = make_client(settings={**SMALL, "penalty_seconds": 60})
    for _ in range(2):
        client.post("/metrics/batch", content=bad_big(), headers=JSON)
    assert client.post("/metrics/batch", content=big_batch("x"), headers=JSON).status_code == 429
    # A big body elsewhere gets what it would get from anyone.
    assert client.request("GET", "/health", content=b" " * 2000).status_code == 200
    assert client.post("/nosuch", content=b" " * 2000).status_code == 404


def test_one_connection_held_back_holds_back_no_other(make_client):
    client = make_client(settings={**SMALL, "penalty_seconds": 60})
    for _ in range(SMALL["penalty_refusals"]):
        assert client.post("/metrics/batch", content=bad_big(), headers=JSON).status_code == 400
    assert client.post("/metrics/batch", content=big_batch("held"), headers=JSON).status_code == 429
    # another client on the same host (its own connection, another port) is served
    neighbour = TestClient(client.app, client=("testclient", 50001))
    answer = neighbour.post("/metrics/batch", content=big_batch("served"), headers=JSON)
    assert answer.status_code == 200, answer.text


def test_a_client_reconnecting_for_each_bad_body_is_held_back_by_its_address(make_client):
    client = make_client(settings={**SMALL, "penalty_seconds": 60})
    per_address = SMALL["penalty_refusals"] * _PER_ADDRESS
    for port in range(per_address):  # one bad body a connection
        other = TestClient(client.app, client=("testclient", 51_000 + port))
        assert other.post("/metrics/batch", content=bad_big(), headers=JSON).status_code == 400
    fresh = TestClient(client.app, client=("testclient", 52_000))
    assert fresh.post("/metrics/batch", content=big_batch("x"), headers=JSON).status_code == 429
    elsewhere = TestClient(client.app, client=("10.1.1.1", 52_000))
    assert elsewhere.post("/metrics/batch", content=big_batch("y"), headers=JSON).status_code == 200
