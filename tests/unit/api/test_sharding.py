"""A node over four shards (four in-process actors): what crosses shards. Every route test
runs on four shards too (conftest.py); these are the cases only sharding has."""

from __future__ import annotations

import pytest

from cluster.common.shards import shard_of

pytestmark = pytest.mark.parametrize("make_client", [4], ids=["4-shards"], indirect=True)
LABELS = [f"l{i}" for i in range(40)]  # on every one of four shards


def _post(client, labels, increment=1, **kwargs):
    return client.post("/metrics", json={"labels": labels, "increment": increment}, **kwargs)


def test_counters_spread_over_the_shards_and_read_back_whole(make_client):
    client = make_client()
    assert _post(client, LABELS, 2).json() == dict.fromkeys(LABELS, 2)
    shards = client.get("/health").json()["shards"]
    assert [s["shard"] for s in shards] == [0, 1, 2, 3]
    held = [s["counters"] for s in shards]
    assert sum(held) == 40 and all(held)
    assert held == [sum(shard_of(label, 4) == i for label in LABELS) for i in range(4)]
    assert client.get("/metrics").json() == dict.fromkeys(LABELS, 2)
    query = client.get("/metrics/query", params={"expression": "l1,l7,nope"}).json()
    assert query == {"l1": 2, "l7": 2}


def test_a_request_failing_on_one_shard_is_completed_exactly_once_by_its_retry(make_client):
    client = make_client()
    store = client.app.state.node.stores[2]
    actor, store.actor = store.actor, None  # shard 2 down: its part cannot be applied
    key = {"Idempotency-Key": "retry-me"}
    failed = _post(client, LABELS, 3, headers=key)
    assert failed.status_code == 503, failed.text
    store.actor = actor  # shard 2 back
    on_two = {label for label in LABELS if shard_of(label, 4) == 2}
    applied = client.get("/metrics").json()
    assert applied == {label: 3 for label in LABELS if label not in on_two}  # the others held
    again = _post(client, LABELS, 3, headers=key)
    assert (again.status_code, again.json()) == (200, dict.fromkeys(LABELS, 3))
    assert _post(client, LABELS, 3, headers=key).json() == dict.fromkeys(LABELS, 3)
    assert client.get("/metrics").json() == dict.fromkeys(LABELS, 3)  # each part once


def test_an_event_refused_by_its_buffer_changes_no_counter_on_another_shard(make_client):
    client = make_client(record_limits={"max_recent_events": 1})
    event = {"username": "ann", "metric": "clicks", "count": 1}
    assert shard_of("clicks", 4) != 0  # the event's record lives on shard 0, the counter not
    assert client.post("/event", json=event).status_code == 200
    refused = client.post("/event", json=event)
    assert refused.status_code == 429, refused.text
    assert client.get("/metrics").json() == {"clicks": 1}


def test_max_counters_is_each_shards_limit(make_client):
    client = make_client(max_counters=2)
    mine = [label for label in LABELS if shard_of(label, 4) == 1]
    assert _post(client, mine[:2]).status_code == 200
    refused = _post(client, [mine[2]])
    assert refused.status_code == 409 and refused.json()["error"] == "Limit Reached"
    others = [label for label in LABELS if shard_of(label, 4) == 3][:2]
    assert _post(client, others).status_code == 200  # another shard has room
    assert client.get("/metrics").json() == dict.fromkeys(mine[:2] + others, 1)


def test_promql_selects_counters_and_series_of_every_shard(make_client):
    client = make_client()
    _post(client, LABELS, 5)
    answer = client.get("/api/v1/query", params={"query": 'sum({__name__=~"l.*"})'}).json()
    assert answer["data"]["result"][0]["value"][1] == "200"
    names = client.get("/api/v1/label/__name__/values").json()["data"]
    assert names == sorted(LABELS)
    count = client.get("/api/v1/query", params={"query": 'count({__name__=~"l.*"})'}).json()
    assert count["data"]["result"][0]["value"][1] == "40"
