"""List bodies (POST /metrics/batch, the originals' JSON lists): counted before they are
validated, validated in steps with the event loop free between them, and refused with errors
that name the item, however far into the list it is."""

from __future__ import annotations

import asyncio
import itertools
import time

import orjson
import pytest

from api import bodies
from api.routes.counters import batch_items
from cluster.common.errors import InvalidInput
from cluster.common.timeutil import rfc3339

JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}


def _items(count: int, labels: int = 1) -> list[dict]:
    return [{"labels": [f"b{i}-{j}" for j in range(labels)], "increment": 1} for i in range(count)]


def test_a_long_batch_lets_the_loop_serve_while_it_is_validated(monkeypatch):
    # 5,000 items of 5 labels: under both caps, so nothing but validation runs long. It used to
    # be validated in one piece, no other task running meanwhile.
    body = orjson.dumps({"items": _items(5_000, 5)})
    events: list[str] = []
    real = bodies._list_of

    class Logged:
        def __init__(self, adapter):
            self._adapter = adapter

        def validate_json(self, data):
            events.append("validate")
            return self._adapter.validate_json(data)

    monkeypatch.setattr(bodies, "_list_of", lambda model: Logged(real(model)))

    async def measure() -> int:
        done = False

        async def other_task() -> None:
            while not done:
                await asyncio.sleep(0)
                events.append("turn")

        task = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        items = await batch_items(body, False, 10_000, 100_000)
        done = True
        await task
        return len(items)

    assert asyncio.run(measure()) == 5_000
    steps = [i for i, event in enumerate(events) if event == "validate"]
    assert len(steps) >= 2, "validated in one piece"
    for a, b in itertools.pairwise(steps):  # the other task ran between each two steps
        assert "turn" in events[a + 1 : b], events[a : b + 1]


def test_an_error_deep_in_a_long_batch_names_its_item():
    items = _items(1_500)
    items[1_234]["increment"] = -1
    with pytest.raises(InvalidInput, match=r"items\.1234\.increment: Input should be greater"):
        asyncio.run(batch_items(orjson.dumps({"items": items}), False, 10_000, 100_000))
    lines = [orjson.dumps(item) for item in items]
    lines.insert(3, b"")  # a blank line counts as a line
    with pytest.raises(InvalidInput, match=r"^line 1236: increment: Input should be greater"):
        asyncio.run(batch_items(b"\n".join(lines), True, 10_000, 100_000))


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        (b'{"items": [{}' + b",{}" * 100 + b'], "x": 1}', "unknown field `x`"),
        (b'{"items": [' + b'{"labels": ["a"]},' * 100 + b"5]}", "items.100: Expected `object`"),
        (b'{"items": [' + b'{"labels": ["a"], "increment": 1},' * 100 + b"]}", "not a batch"),
    ],
)
def test_a_long_batch_that_is_no_list_of_items_is_a_400(client, body, wanted):
    r = client.post("/metrics/batch", content=body, headers=JSON)
    assert r.status_code == 400, r.text
    assert wanted in r.json()["detail"]
    assert client.get("/metrics").json() == {}


def test_a_long_batch_is_applied_whole(client):
    items = _items(2_000, 3)
    r = client.post("/metrics/batch", json={"items": items})
    assert r.status_code == 200, r.text
    assert len(r.json()) == 6_000 and set(r.json().values()) == {1}
    lines = b"\n".join(orjson.dumps(item) for item in items)
    r = client.post("/metrics/batch", content=lines, headers=NDJSON)
    assert r.status_code == 200, r.text
    assert set(r.json().values()) == {2}


def _sample(value: float = 1.5) -> dict:
    return {"timestamp": rfc3339(time.time()), "name": "list_metric", "value": value}


def test_a_list_over_the_item_limit_is_refused_before_it_is_validated(make_client):
    client = make_client({"max_batch_items": 100})
    # Every item invalid: validating first would have answered with their errors.
    r = client.post("/v1/metrics", content=b"[" + b",".join([b"{}"] * 101) + b"]", headers=JSON)
    assert r.status_code == 400, r.text
    assert "101 objects exceed the limit of 100" in r.json()["detail"]
    rows = [{"id": "h", "cpu_usage": 1, "memory_usage": 1, "disk_usage": 1}] * 101
    r = client.post("/v1/hosts/metrics", json=rows)
    assert r.status_code == 400 and "exceed the limit" in r.json()["detail"], r.text
    assert client.get("/v1/metrics").json() == []


def test_a_list_of_many_wrong_items_names_ten_problems_and_counts_the_rest(client):
    r = client.post("/v1/metrics", content=b"[" + b",".join([b"{}"] * 600) + b"]", headers=JSON)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    # Validation stops at the first step of 500 items: 3 missing fields each.
    assert detail.startswith("0.timestamp: Field required; 0.name: Field required")
    assert detail.endswith("; and 1490 more problems") and len(detail) < 1_000


def test_a_long_list_is_stored_whole_and_its_errors_name_the_item(client):
    samples = [_sample(i) for i in range(1_200)]
    r = client.post("/v1/metrics", json=samples)
    assert r.status_code == 201, r.text
    samples[1_100]["value"] = "x"
    r = client.post("/v1/metrics", json=samples)
    assert r.status_code == 400 and r.json()["detail"].startswith("1100.value: "), r.text
    assert client.get("/v1/metrics").json() == ["list_metric"]
