"""The counter API on a running three-node cluster: the seed scenario, totals under concurrency,
and bad input."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cluster.ops.local import LocalCluster
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_seed_scenario_passes_on_fresh_and_on_existing_data(cluster: LocalCluster):
    ports = ",".join(map(str, cluster.ports))
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts/seed_scenario.py"), "--ports", ports],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "scenario OK" in done.stdout


def test_concurrent_posts_add_up_exactly(cluster: LocalCluster):
    threads, per_thread = 20, 200
    before = cluster.counters()

    def worker(t: int) -> dict[str, int]:
        sent = {"load_all": 0, f"load_t{t}": 0}
        with httpx.Client(timeout=30) as client:
            for i in range(per_thread):
                increment = (t * per_thread + i) % 7
                response = client.post(
                    f"{cluster.urls[(t + i) % 3]}/metrics",
                    json={"labels": ["load_all", f"load_t{t}"], "increment": increment},
                )
                assert response.status_code == 200, response.text
                assert response.json()["load_all"] >= increment
                for label in sent:
                    sent[label] += increment
        return sent

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(worker, range(threads)))
    after = cluster.counters()
    assert after["load_all"] - before.get("load_all", 0) == sum(r["load_all"] for r in results)
    for t, sent in enumerate(results):
        assert after[f"load_t{t}"] - before.get(f"load_t{t}", 0) == sent[f"load_t{t}"]
    for node in range(3):  # every node reads the same state
        assert cluster.get(node, "/metrics").json()["load_all"] == after["load_all"]


def test_query_trims_parts_and_empty_means_all(cluster: LocalCluster):
    cluster.post(0, ["q_one", "q_two"], 3).raise_for_status()
    assert cluster.get(1, "/metrics/query?expression= q_one , q_two,,").json() == {
        "q_one": 3,
        "q_two": 3,
    }
    everything = cluster.get(2, "/metrics/query").json()
    assert everything == cluster.get(2, "/metrics/query?expression=").json()
    assert {"q_one", "q_two"} <= everything.keys()


def test_duplicate_label_in_one_request_counts_twice(cluster: LocalCluster):
    response = cluster.post(0, ["dup_x", "dup_x"], 5)
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
def test_bad_input_gets_4xx_and_changes_nothing(
    cluster: LocalCluster, method, path, body, headers, status
):
    before = cluster.counters()
    response = httpx.request(
        method, f"{cluster.urls[1]}{path}", content=body, headers=headers, timeout=15
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] and error["detail"], error
    assert cluster.counters() == before
    assert cluster.get(1, "/health").status_code == 200


def test_405_names_every_allowed_method(cluster: LocalCluster):
    response = httpx.delete(f"{cluster.urls[0]}/metrics", timeout=15)
    assert response.headers["allow"] == "GET, POST"


def test_idempotency_key_retry_on_another_node_applies_once(cluster: LocalCluster):
    body = {"labels": ["idem"], "increment": 7}
    key = {"Idempotency-Key": "retry-test-1"}
    first = httpx.post(f"{cluster.urls[0]}/metrics", json=body, headers=key, timeout=15)
    again = httpx.post(f"{cluster.urls[2]}/metrics", json=body, headers=key, timeout=15)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert cluster.counters()["idem"] == first.json()["idem"]
    other = httpx.post(
        f"{cluster.urls[1]}/metrics", json={"labels": ["idem"], "increment": 8}, headers=key
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    bad = httpx.post(f"{cluster.urls[1]}/metrics", json=body, headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 400
    assert cluster.counters()["idem"] == first.json()["idem"]


def test_batch_json_and_ndjson_apply_all_and_answer_each_label(cluster: LocalCluster):
    before = cluster.counters()
    body = {
        "items": [
            {"labels": ["bj_a", "bj_b"], "increment": 2},
            {"labels": ["bj_a"], "increment": 3},
        ]
    }
    r = httpx.post(f"{cluster.urls[0]}/metrics/batch", json=body, timeout=15)
    assert r.status_code == 200, r.text
    assert r.json() == {"bj_a": before.get("bj_a", 0) + 5, "bj_b": before.get("bj_b", 0) + 2}
    lines = b'{"labels":["bj_a"],"increment":1}\n\n{"labels":["bj_c"],"increment":4}\n'
    r = httpx.post(
        f"{cluster.urls[1]}/metrics/batch",
        content=lines,
        headers={"Content-Type": "application/x-ndjson"},
        timeout=15,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"bj_a": before.get("bj_a", 0) + 6, "bj_c": before.get("bj_c", 0) + 4}


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
def test_batch_is_all_or_nothing(cluster: LocalCluster, content, content_type, status, where):
    cluster.post(0, ["big"], 1).raise_for_status()
    before = cluster.counters()
    r = httpx.post(
        f"{cluster.urls[2]}/metrics/batch",
        content=content,
        headers={"Content-Type": content_type},
        timeout=15,
    )
    assert r.status_code == status, r.text
    assert where in r.json()["detail"]
    assert cluster.counters() == before


def test_batch_over_item_limit_is_refused(cluster: LocalCluster):
    items = [{"labels": ["many"], "increment": 1}] * 10_001
    r = httpx.post(f"{cluster.urls[0]}/metrics/batch", json={"items": items}, timeout=30)
    assert r.status_code == 400 and "10000" in r.json()["detail"]
