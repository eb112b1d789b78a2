"""The Prometheus HTTP API of a real cluster against a real Prometheus: the same random series
posted to our nodes (POST /v1/metrics with labels) and loaded into Prometheus, the same queries
asked of both; promtool queries a node; counters read as series from any node."""

from __future__ import annotations

import math
import random
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from cluster.ops.local import LocalCluster
from scripts.query_bench import load
from scripts.reference_prometheus import (
    SeriesData,
    difference,
    query,
    require_prometheus,
    running_prometheus,
)
from tests.conftest import wait_for
from tests.integration.promql_cases import FIXED, ExpressionMaker, generate_series
from tests.integration.test_promql_reference import queries

SEED = 21
RANDOM_CASES = 60
ENV = {
    "METRICS_BUFFERS__RAW_SECONDS": str(30 * 86400),
    "METRICS_BUFFERS__RAW_COUNT": "100000",
    "METRICS_BUFFERS__MAX_SERIES": "100000",
}


@pytest.fixture(scope="module")
def data() -> list[SeriesData]:
    # The samples API takes finite values only: the series holding a NaN stays out.
    return [
        (labels, points)
        for labels, points in generate_series(random.Random(SEED))
        if all(math.isfinite(v) for _, v in points)
    ]


@pytest.fixture(scope="module")
def loaded(
    data: list[SeriesData], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("promapi"), extra_env=ENV) as cluster:
        load(cluster, data)  # POST /v1/metrics with labels, over the three nodes; 201 each
        yield cluster


def test_every_node_answers_as_prometheus_does(loaded, data, tmp_path_factory):
    with running_prometheus(data, tmp_path_factory.mktemp("prometheus")) as prometheus:
        rng = random.Random(SEED)
        maker = ExpressionMaker(rng)
        expressions = FIXED + [maker.vector(rng.randrange(0, 4)) for _ in range(RANDOM_CASES)]
        disagreements, compared = [], 0
        for number, text in enumerate(expressions):
            url = loaded.urls[number % len(loaded.urls)]
            for path, params in queries(rng):
                ours = query(url, path, {"query": text, **params})
                theirs = query(prometheus, path, {"query": text, **params})
                compared += 1
                if differs := difference(ours, theirs):
                    disagreements.append(f"{path} {text!r} {params}: {differs}")
    print(f"compared {compared} queries through the cluster; {len(disagreements)} disagreements")
    assert compared > 3 * len(FIXED)
    assert not disagreements, "\n".join(disagreements[:30])


def test_series_and_labels_list_what_was_posted(loaded, data):
    got = httpx.get(f"{loaded.urls[1]}/api/v1/series", params={"match[]": "temperature"}).json()
    wanted = [labels for labels, _ in data if labels["__name__"] == "temperature"]
    assert sorted(map(sorted, (s.items() for s in got["data"]))) == sorted(
        map(sorted, (w.items() for w in wanted))
    )
    jobs = httpx.get(f"{loaded.urls[2]}/api/v1/label/job/values").json()["data"]
    assert set(jobs) == {labels["job"] for labels, _ in data if "job" in labels}


def test_promtool_queries_any_node(loaded, data):
    _, promtool = require_prometheus()
    last = max(t for _, points in data for t, _ in points) / 1000
    expression = "sum by (job) (rate(http_requests_total[5m]))"
    ours = query(loaded.urls[2], "query", {"query": expression, "time": str(last)})
    instant = subprocess.run(
        [promtool, "query", "instant", f"--time={last}", loaded.urls[2], expression],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert instant.returncode == 0, instant.stderr
    lines = [line for line in instant.stdout.splitlines() if "=>" in line]
    assert len(lines) == len(ours["data"]["result"]) > 0
    for row in ours["data"]["result"]:
        job = row["metric"].get("job")
        shown = f'job="{job}"' if job else "{}"
        assert any(shown in line for line in lines), instant.stdout
    ranged = subprocess.run(
        [
            promtool,
            "query",
            "range",
            f"--start={last - 600}",
            f"--end={last}",
            "--step=1m",
            loaded.urls[0],
            "sum(temperature)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ranged.returncode == 0, ranged.stderr
    assert "=>" in ranged.stdout and "@[" in ranged.stdout


def test_a_counter_is_a_series_on_every_node(loaded):
    response = loaded.post(0, ["promapi_hits"], 7)
    assert response.status_code == 200, response.text

    def everywhere() -> bool:
        for url in loaded.urls:
            body = query(url, "query", {"query": "promapi_hits * 2"})
            if [r["value"][1] for r in body["data"]["result"]] != ["14"]:
                return False
        return True

    wait_for(everywhere, 30, 0.2, "the counter on every node")
