"""The counter API's contract on one node (POST/GET /metrics, /metrics/query, /metrics/batch):
answers, all-or-nothing batches, Idempotency-Key, and bad input, over an in-process actor."""

from __future__ import annotations

import orjson
import pytest
from starlette.testclient import TestClient


def counters(client: TestClient) -> dict[str, int]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.json()


def post(client: TestClient, labels: list[str], increment: int, **kwargs):
    return client.post("/metrics", json={"labels": labels, "increment": increment}, **kwargs)


def test_post_answers_each_label_right_after_it_and_get_reads_them(client):
    assert counters(client) == {}
    assert post(client, ["a", "b"], 2).json() == {"a": 2, "b": 2}
    response = post(client, ["a"], 3)
    assert (response.status_code, response.json()) == (200, {"a": 5})
    assert counters(client) == {"a": 5, "b": 2}


def test_query_trims_parts_and_empty_means_all(client):
    post(client, ["q_one", "q_two"], 3).raise_for_status()
    post(client, ["q_other"], 1).raise_for_status()
    assert client.get("/metrics/query?expression= q_one , q_two,,").json() == {
        "q_one": 3,
        "q_two": 3,
    }
    everything = client.get("/metrics/query").json()
    assert everything == client.get("/metrics/query?expression=").json()
    assert everything == {"q_one": 3, "q_two": 3, "q_other": 1}


def test_query_answers_only_the_labels_that_exist(client):
    post(client, ["q_one"], 3).raise_for_status()
    assert client.get("/metrics/query?expression=q_one,never_seen").json() == {"q_one": 3}


def test_duplicate_label_in_one_request_counts_twice(client):
    response = post(client, ["dup_x", "dup_x"], 5)
    assert response.json() == {"dup_x": 10}


JSON = {"Content-Type": "application/json"}
BAD_INPUT = [
    # (method, path, raw body or None, headers, expected status)
    ("POST", "/metrics", b'{"labels":[],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":1.5}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":1.0}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":true}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":"10"}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":-1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":9223372036854775808}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":1e400}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":NaN}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":null}', JSON, 400),
    ("POST", "/metrics", b'{"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"]}', JSON, 400),
    ("POST", "/metrics", b'{"labels":"bad","increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":[1],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":[null],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":[["bad"]],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":[""],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad\\nline"],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad\\u0000"],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["' + b"x" * 257 + b'"],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":[' + b'"bad",' * 1000 + b'"bad"],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":1,"extra":true}', JSON, 400),
    ("POST", "/metrics", b"[]", JSON, 400),
    ("POST", "/metrics", b'"bad"', JSON, 400),
    ("POST", "/metrics", b"5", JSON, 400),
    ("POST", "/metrics", b"null", JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],', JSON, 400),
    ("POST", "/metrics", b"", JSON, 400),
    ("POST", "/metrics", b'{"labels":["\xff\xfe"],"increment":1}', JSON, 400),
    ("POST", "/metrics", b'{"labels":["bad"],"increment":1}', {"Content-Type": "text/plain"}, 415),
    (
        "POST",
        "/metrics",
        b"labels=bad&increment=1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
    ),
    ("POST", "/metrics", b'{"labels":["' + b"x" * (2 << 20) + b'"],"increment":1}', JSON, 413),
    ("DELETE", "/metrics", None, {}, 405),
    ("PUT", "/metrics", b'{"labels":["bad"],"increment":1}', JSON, 405),
    ("POST", "/metrics/query", b"{}", JSON, 405),
    ("GET", "/no/such/route", None, {}, 404),
    ("GET", "/metrics/query?expression=never_seen_1,never_seen_2", None, {}, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), BAD_INPUT)
def test_bad_input_gets_4xx_and_changes_nothing(client, method, path, body, headers, status):
    post(client, ["bad"], 1).raise_for_status()  # a label the bad requests name exists
    before = counters(client)
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] and error["detail"], error
    assert counters(client) == before
    assert client.get("/health").status_code == 200


def test_405_names_every_allowed_method(client):
    response = client.delete("/metrics")
    assert response.headers["allow"] == "GET, POST"


def test_idempotency_key_retry_gets_the_first_answer_and_a_reuse_is_refused(client):
    body = {"labels": ["idem"], "increment": 7}
    key = {"Idempotency-Key": "retry-test-1"}
    first = client.post("/metrics", json=body, headers=key)
    again = client.post("/metrics", json=body, headers=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == {"idem": 7}
    assert again.json() == first.json()
    assert counters(client)["idem"] == 7
    other = client.post("/metrics", json={"labels": ["idem"], "increment": 8}, headers=key)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    bad = client.post("/metrics", json=body, headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 400
    assert counters(client)["idem"] == 7


def test_batch_json_and_ndjson_apply_all_and_answer_each_label(client):
    body = {
        "items": [
            {"labels": ["bj_a", "bj_b"], "increment": 2},
            {"labels": ["bj_a"], "increment": 3},
        ]
    }
    r = client.post("/metrics/batch", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"bj_a": 5, "bj_b": 2}
    lines = b'{"labels":["bj_a"],"increment":1}\n\n{"labels":["bj_c"],"increment":4}\n'
    r = client.post(
        "/metrics/batch", content=lines, headers={"Content-Type": "application/x-ndjson"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"bj_a": 6, "bj_c": 4}
    assert counters(client) == {"bj_a": 6, "bj_b": 2, "bj_c": 4}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "where"),
    [
        (
            b'{"items":[{"labels":["bb"],"increment":1},{"labels":["bb"],"increment":-1}]}',
            "application/json",
            400,
            "items.1.increment",
        ),
        (b'{"items":[]}', "application/json", 400, "items"),
        (b'{"labels":["bb"],"increment":1}\n{"labels":[]}', "application/x-ndjson", 400, "line 2"),
        (b"\n\n", "application/x-ndjson", 400, "no item"),
        (
            b'{"items":[{"labels":["bb"],"increment":1},{"labels":["big"],"increment":9223372036854775807}]}',
            "application/json",
            409,
            "would exceed",
        ),
    ],
)
def test_batch_is_all_or_nothing(make_client, content, content_type, status, where):
    # Bad input is refused by the node, before any shard sees it; a counter's overflow is the
    # shard's refusal, and a batch over several shards is all or nothing per shard only.
    client = make_client({"shards": 1} if status == 409 else None)
    post(client, ["big"], 1).raise_for_status()
    before = counters(client)
    r = client.post("/metrics/batch", content=content, headers={"Content-Type": content_type})
    assert r.status_code == status, r.text
    assert where in r.json()["detail"]
    assert counters(client) == before


def test_batch_over_item_limit_is_refused(client):
    items = [{"labels": ["many"], "increment": 1}] * 10_001
    r = client.post("/metrics/batch", json={"items": items})
    assert r.status_code == 413 and "10000 items" in r.json()["detail"]
    assert counters(client) == {}


NDJSON_TYPE = {"Content-Type": "application/x-ndjson"}


def test_batch_over_the_label_cap_is_refused_before_it_is_validated(make_client):
    client = make_client({"max_request_labels": 50})
    items = [{"labels": [f"l{i}-{j}" for j in range(10)], "increment": 1} for i in range(6)]
    r = client.post("/metrics/batch", json={"items": items})
    assert r.status_code == 413, r.text
    assert "60 labels" in r.json()["detail"] and "50 labels" in r.json()["detail"]
    # Counted before validation: an invalid item in an oversized body still gets the 413.
    items[0]["increment"] = "x"
    assert client.post("/metrics/batch", json={"items": items}).status_code == 413
    items[0]["increment"] = 1
    lines = b"\n".join(orjson.dumps(item) for item in items)
    r = client.post("/metrics/batch", content=lines, headers=NDJSON_TYPE)
    assert r.status_code == 413 and "50 labels" in r.json()["detail"], r.text
    assert counters(client) == {}


def test_labels_full_of_quotes_are_counted_exactly_not_by_the_bound(make_client):
    client = make_client({"max_request_labels": 10})
    quoted = [f'q"{i}"' for i in range(10)]  # 10 labels, 50 quote characters
    r = client.post("/metrics/batch", json={"items": [{"labels": quoted, "increment": 1}]})
    assert r.status_code == 200, r.text
    assert counters(client) == dict.fromkeys(quoted, 1)


def test_new_label_past_max_counters_is_a_409_and_changes_nothing(make_client):
    client = make_client(
        {"shards": 1}, max_counters=2
    )  # a shard's limit: tests/unit/api/test_sharding.py
    post(client, ["one", "two"], 1).raise_for_status()
    refused = post(client, ["one", "three"], 1)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "Limit Reached"
    assert counters(client) == {"one": 1, "two": 1}
    assert post(client, ["one", "two"], 1).json() == {"one": 2, "two": 2}  # known labels: fine
