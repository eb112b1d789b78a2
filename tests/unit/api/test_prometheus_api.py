"""Prometheus's query API over one node (in-process actor): samples with labels, counters and
host rows as series, answers in Prometheus's shapes, errors with their errorType, and bad
input of every kind a 4xx that changes nothing."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.common.timeutil import rfc3339
from tests.conftest import wait_for

TOKEN = "s3cret-admin-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = 1_700_000_000  # a whole minute


def _post(client, name, ts, value, labels=None):
    body = {"timestamp": rfc3339(ts), "name": name, "value": value}
    if labels is not None:
        body["labels"] = labels
    response = client.post("/v1/metrics", json=body)
    assert response.status_code == 201, response.text


@pytest.fixture
def loaded(make_client):
    client = make_client({"admin_token": TOKEN})
    for i in range(7):  # a point every 10 s, from T0 to T0 + 60
        _post(client, "http_requests", T0 + 10 * i, 10.0 * i, {"job": "api", "code": "200"})
        _post(client, "http_requests", T0 + 10 * i, 1.0 * i, {"job": "web", "code": "500"})
    return client


def _query(client, query, at, method="get"):
    params = {"query": query, "time": str(at)}
    if method == "post":
        return client.post("/api/v1/query", data=params)
    return client.get("/api/v1/query", params=params)


def test_an_instant_query_answers_in_prometheus_shape(loaded):
    for method in ("get", "post"):
        response = _query(loaded, 'http_requests{job="api"}', T0 + 60, method)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [
                    {
                        "metric": {"__name__": "http_requests", "code": "200", "job": "api"},
                        "value": [T0 + 60, "60"],
                    }
                ],
            },
        }


def test_rate_and_sum_by_over_labeled_samples(loaded):
    body = _query(loaded, "sum by (job) (rate(http_requests[1m]))", T0 + 60).json()
    rates = {r["metric"]["job"]: float(r["value"][1]) for r in body["data"]["result"]}
    # Points at 10..60 within (0, 60]: 50 over 50 s, extrapolated to the 60 s window's start
    # (the first point lies 10 s, one interval, from it): 60 / 60 = 1 a second.
    assert rates == pytest.approx({"api": 1.0, "web": 0.1})


def test_a_range_query_gives_a_point_per_step(loaded):
    params = {"query": 'http_requests{code="500"} * 2', "start": T0, "end": T0 + 60, "step": "30s"}
    body = loaded.get("/api/v1/query_range", params=params).json()
    assert body["data"]["resultType"] == "matrix"
    [series] = body["data"]["result"]
    assert series["metric"] == {"code": "500", "job": "web"}  # arithmetic drops the name
    assert series["values"] == [[T0, "0"], [T0 + 30, "6"], [T0 + 60, "12"]]


def test_times_are_rfc3339_or_unix_and_steps_durations_or_seconds(loaded):
    rfc = _query(loaded, "http_requests", rfc3339(T0 + 60)).json()
    unix = _query(loaded, "http_requests", T0 + 60).json()
    assert rfc == unix and len(unix["data"]["result"]) == 2
    params = {"query": "1", "start": T0, "end": T0 + 120}
    by_duration = loaded.get("/api/v1/query_range", params={**params, "step": "1m"}).json()
    by_seconds = loaded.get("/api/v1/query_range", params={**params, "step": "60"}).json()
    assert by_duration == by_seconds
    assert len(by_duration["data"]["result"][0]["values"]) == 3


def test_counters_are_series_with_their_current_value(make_client):
    client = make_client()
    client.post("/metrics", json={"labels": ["page_views"], "increment": 5}).raise_for_status()
    body = client.get("/api/v1/query", params={"query": "page_views + 1"}).json()
    assert [r["value"][1] for r in body["data"]["result"]] == ["6"]
    names = client.get("/api/v1/label/__name__/values").json()["data"]
    assert names == ["page_views"]


def test_series_labels_and_label_values(loaded):
    series = loaded.get("/api/v1/series", params={"match[]": '{job="web"}'}).json()
    assert series == {
        "status": "success",
        "data": [{"__name__": "http_requests", "code": "500", "job": "web"}],
    }
    labels = loaded.get("/api/v1/labels").json()["data"]
    assert labels == ["__name__", "code", "job"]
    values = loaded.get("/api/v1/label/job/values", params={"match[]": "http_requests"}).json()
    assert values["data"] == ["api", "web"]
    buildinfo = loaded.get("/api/v1/status/buildinfo").json()
    assert buildinfo["data"]["version"].startswith("3.")


@pytest.mark.parametrize(
    ("params", "status", "kind", "wanted"),
    [
        ({"query": "sum(", "time": "1"}, 400, "bad_data", "at char 5"),
        ({"time": "1"}, 400, "bad_data", 'missing parameter "query"'),
        ({"query": "1", "time": "yesterday"}, 400, "bad_data", "valid timestamp"),
        ({"query": "1", "time": "1e300"}, 400, "bad_data", "not a time between"),
        ({"query": "1", "time": "-1e16"}, 400, "bad_data", "not a time between"),
        # RFC 3339 names its offset; a node's own time zone would be a guess
        ({"query": "1", "time": "2023-01-01T00:00:00"}, 400, "bad_data", "valid timestamp"),
        ({"query": "1", "time": "2023-01-01"}, 400, "bad_data", "valid timestamp"),
        ({"query": "irate(x[1m])"}, 400, "bad_data", "irate"),
        (
            {"query": 'topk(NaN, {__name__=~".+"})', "time": "1"},
            422,
            "execution",
            "overflows int64",
        ),
    ],
)
def test_bad_queries_get_prometheus_errors(loaded, params, status, kind, wanted):
    response = loaded.get("/api/v1/query", params=params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["errorType"] == kind
    assert wanted in body["error"]


def test_bad_range_parameters_are_refused(loaded):
    base = {"query": "1", "start": "10", "end": "20", "step": "1"}
    for change, wanted in [
        ({"step": "0"}, "zero or negative"),
        ({"step": "1x"}, "valid duration"),
        ({"end": "5"}, "before start"),
        ({"start": "0", "end": "100000", "step": "1"}, "11,000 points"),
    ]:
        response = loaded.get("/api/v1/query_range", params={**base, **change})
        assert response.status_code == 400, (change, response.text)
        assert wanted in response.json()["error"]


def test_bad_label_reads_and_forms_are_the_clients_errors(loaded):
    backwards = {"match[]": "http_requests", "start": "20", "end": "10"}
    for path in ("/api/v1/series", "/api/v1/labels", "/api/v1/label/job/values"):
        response = loaded.get(path, params=backwards)
        assert response.status_code == 400, (path, response.text)
        assert "before start" in response.json()["error"]
    bad_name = loaded.get("/api/v1/label/a-b/values")
    assert bad_name.status_code == 400
    assert bad_name.json()["error"] == "invalid label name: 'a-b'"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    huge = loaded.post("/api/v1/query", content=b"query=" + b"1" * (1 << 20), headers=form)
    assert huge.status_code == 413
    assert huge.json()["errorType"] == "bad_data"
    wrong_method = loaded.delete("/api/v1/query")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["errorType"] == "bad_data"
    ok = loaded.post("/api/v1/query", content=b"query=1%2B1&time=1", headers=form)
    assert ok.json()["data"] == {"resultType": "scalar", "result": [1, "2"]}


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.text(alphabet=st.sampled_from(list('ab(){}[]"=~!,+-*/^%<> 015mhs.#\\')), max_size=30))
def test_garbage_queries_never_get_a_5xx(loaded, text):
    response = _query(loaded, text, T0 + 60)
    assert response.status_code in (200, 400, 422), (text, response.text)


def test_samples_with_labels_are_validated(make_client):
    client = make_client()
    base = {"timestamp": rfc3339(time.time()), "name": "x", "value": 1}
    for labels, wanted in [
        ({"1a": "v"}, "label name"),
        ({"__reserved": "v"}, "label name"),
        ({f"l{i}": "v" for i in range(31)}, "30"),
        ({"a": "v" * 1025}, "1024"),
        ({"a": 1}, "string"),
    ]:
        response = client.post("/v1/metrics", json={**base, "labels": labels})
        assert response.status_code == 400, (labels, response.text)
        assert wanted in response.text, response.text
    assert client.get("/v1/metrics").json() == []  # nothing was stored


def test_the_original_reads_merge_a_names_labeled_series(loaded):
    assert loaded.get("/v1/metrics").json() == ["http_requests"]  # once, for two series
    path = f"/v1/metrics/http_requests/minute/{rfc3339(T0)[:10]}/{rfc3339(T0)[:10]}"
    # Both series in each minute: api's 0, 10, ... 60 and web's 0, 1, ... 6, four points of
    # each before 22:14 and three after.
    assert loaded.get(path).json()["data"] == [
        {"timeFrame": "2023-11-14T22:14:00Z", "avg": 27.5, "count": 6, "min": 4.0, "max": 60.0},
        {"timeFrame": "2023-11-14T22:13:00Z", "avg": 8.25, "count": 8, "min": 0.0, "max": 30.0},
    ]


def test_delete_series_takes_full_selectors(loaded):
    response = loaded.post(
        "/api/v1/admin/tsdb/delete_series", params={"match[]": '{job="web"}'}, headers=AUTH
    )
    assert response.status_code == 204, response.text
    series = loaded.get("/api/v1/series", params={"match[]": "http_requests"}).json()["data"]
    assert series == [{"__name__": "http_requests", "code": "200", "job": "api"}]


def test_metrics_query_keeps_the_comma_list_and_takes_promql(loaded):
    for labels in (["a"], ["b-c"], ["my counter"]):
        loaded.post("/metrics", json={"labels": labels, "increment": 2}).raise_for_status()
    assert loaded.get("/metrics/query", params={"expression": "a, b-c"}).json() == {
        "a": 2,
        "b-c": 2,
    }
    assert loaded.get("/metrics/query", params={"expression": "my counter"}).json() == {
        "my counter": 2
    }
    missing = loaded.get("/metrics/query", params={"expression": "nope,none"})
    assert missing.status_code == 404
    body = loaded.get("/metrics/query", params={"expression": "a * 3"}).json()
    assert body["status"] == "success"
    assert [r["value"][1] for r in body["data"]["result"]] == ["6"]
    bad = loaded.get("/metrics/query", params={"expression": "sum(a"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid expression" and "at char" in bad.json()["detail"]


def test_metrics_exposition_for_scrapers_and_json_for_curl(loaded):
    from prometheus_client.parser import text_string_to_metric_families

    for labels in (["page_views"], ["a-b"]):
        loaded.post("/metrics", json={"labels": labels, "increment": 3}).raise_for_status()
    plain = loaded.get("/metrics", headers={"Accept": "*/*"})
    assert plain.headers["content-type"].startswith("application/json")
    assert plain.json() == {"page_views": 3, "a-b": 3}
    scraped = loaded.get("/metrics", headers={"Accept": "text/plain; version=0.0.4"})
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    assert families["page_views"].type == "counter"
    assert [(s.name, s.value) for s in families["page_views"].samples] == [("page_views_total", 3)]
    gauge = families["http_requests"]
    assert gauge.type == "gauge"
    assert {(s.labels["job"], s.value) for s in gauge.samples} == {("api", 60.0), ("web", 6.0)}
    assert families["unexposed_series"].samples[0].value == 1  # a-b
    open_metrics = loaded.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")


def test_host_rows_and_integer_averages_are_series(make_client):
    client = make_client({"buffers": {"integer_window": 0.2, "integer_grace": 0}})
    now = time.time()
    for host, cpu in (("h1", 10.0), ("h2", 70.0)):
        row = {
            "id": host,
            "cpu_usage": cpu,
            "memory_usage": 50.0,
            "disk_usage": 95.0,
            "timestamp": rfc3339(now - 5),
        }
        assert client.post("/v1/hosts/metrics", json=row).status_code == 201
    hot = client.get("/api/v1/query", params={"query": "host_cpu_usage > 50"}).json()
    assert [r["metric"] for r in hot["data"]["result"]] == [
        {"__name__": "host_cpu_usage", "id": "h2"}
    ]
    full = client.get("/api/v1/query", params={"query": "count(host_disk_usage > 90)"}).json()
    assert full["data"]["result"][0]["value"][1] == "2"
    response = client.post("/v1/integers", json={"integer": 4})
    assert response.status_code == 201, response.text

    def average() -> list[str]:  # the window closes 0.2 s after it opened
        body = client.get("/api/v1/query", params={"query": "integer_average"}).json()
        return [r["value"][1] for r in body["data"]["result"]]

    assert wait_for(average, 10, 0.05, "the window to close") == ["4"]


def test_a_sample_series_hides_a_counter_of_the_same_name(make_client):
    client = make_client()
    client.post("/metrics", json={"labels": ["shared"], "increment": 5}).raise_for_status()
    assert (
        client.get("/api/v1/query", params={"query": "shared"}).json()["data"]["result"][0][
            "value"
        ][1]
        == "5"
    )
    _post(client, "shared", time.time() - 1, 42.0)
    body = client.get("/api/v1/query", params={"query": "shared"}).json()
    assert [r["value"][1] for r in body["data"]["result"]] == ["42"]


def test_label_reads_without_match_list_more_counters_than_a_query_may_look_at(make_client):
    client = make_client({"shards": 1})  # the bound is each shard's
    many = 150_000  # past the 100,000 series a query may look at
    for first in range(0, many, 50_000):
        labels = [f"c{i}" for i in range(first, first + 50_000)]
        items = [{"labels": labels[j : j + 10], "increment": 1} for j in range(0, 50_000, 10)]
        assert client.post("/metrics/batch", json={"items": items}).status_code == 200
    _post(client, "c5", time.time() - 7200, 1.0)  # a sample series has the counter c5's name
    names = client.get("/api/v1/label/__name__/values").json()["data"]
    assert len(names) == many and names == sorted(names)
    now = time.time()
    recent = {"start": str(now - 60), "end": str(now + 1)}
    names = client.get("/api/v1/label/__name__/values", params=recent).json()["data"]
    assert len(names) == many - 1 and "c5" not in names  # the sample series' only point is old
    assert client.get("/api/v1/labels").json()["data"] == ["__name__"]
    # with match[], the same read is a query's, and bounded as one
    everything = {"match[]": '{__name__=~".+"}'}
    answer = client.get("/api/v1/label/__name__/values", params=everything)
    assert answer.status_code == 422 and "look at more than" in answer.json()["error"]


def test_label_reads_without_match_answer_as_a_selector_of_every_series(make_client):
    rng = random.Random(1)
    client = make_client()
    now = time.time()
    for _ in range(30):
        name = rng.choice(["a", "b", "shared", "integer_average", "host_cpu_usage"])
        labels = rng.choice([None, {"job": rng.choice(["x", "y"])}, {"id": "h1"}])
        _post(client, name, now - rng.randrange(0, 7200), 1.0, labels)
    for label in ["shared", "a", "integer_average", "zz"]:
        assert client.post("/metrics", json={"labels": [label], "increment": 1}).status_code == 200
    paths = ["/api/v1/labels", "/api/v1/label/__name__/values", "/api/v1/label/job/values"]
    for _ in range(30):
        low, high = sorted(rng.uniform(now - 8000, now + 10) for _ in range(2))
        params = {} if rng.random() < 0.2 else {"start": str(low), "end": str(high)}
        for path in paths:
            found = client.get(path, params=params).json()
            every = client.get(path, params={**params, "match[]": '{__name__=~".+"}'}).json()
            assert found == every, (path, params)
