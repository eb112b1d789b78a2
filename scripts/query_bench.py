"""The query section of the benchmark (scripts/bench.py --only-query runs it alone): PromQL
latency of a real cluster beside a real Prometheus (Debian's package) on the same data, in the
same run, the two asked in turn so that both see the same noise.

Data: `--series` counters `x{job, instance}` (10 jobs), one sample every 10 s for an hour,
random increments and a few resets. Queries, over HTTP (`POST /api/v1/query[_range]`):
  instant  sum by (job) (rate(x[5m])) at the last sample
  range    the same over the hour at a 60 s step
Each is asked `--repeat` times of each side after a warm-up; both answers are compared too (a
benchmark that is fast and wrong measures nothing). Prints a markdown table. A benchmark, not
a test: nothing asserts a time.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import orjson
import psutil
import typer

from cluster.common.timeutil import rfc3339
from cluster.ops.local import LocalCluster
from scripts.reference_prometheus import SeriesData, difference, query, running_prometheus

app = typer.Typer(add_completion=False)
EXPRESSION = "sum by (job) (rate(x[5m]))"
BASE_S = 1_700_000_000  # 2023-11-14, as Prometheus's blocks hold it
STEP_S, HOUR_S = 10, 3600
POST_SAMPLES = 2_000  # samples a POST: well under the body limit


def say(message: str) -> None:
    typer.echo(f"{time.strftime('%H:%M:%S')} {message}", err=True)


def generate(series: int, rng: random.Random) -> list[SeriesData]:
    data: list[SeriesData] = []
    for i in range(series):
        labels = {"__name__": "x", "job": f"job{i % 10}", "instance": f"i{i:04d}"}
        jitter = rng.randrange(1, 999)  # ms: no point on a window's edge
        value, points = 0.0, []
        for t in range(BASE_S, BASE_S + HOUR_S, STEP_S):
            value = 0.0 if rng.random() < 0.002 else value + rng.randrange(0, 50)
            points.append((t * 1000 + jitter, value))
        data.append((labels, points))
    return data


def load(cluster: LocalCluster, data: list[SeriesData]) -> int:
    """Post `data` as samples with labels (POST /v1/metrics), spread over the nodes; how many.
    RuntimeError on an answer other than 201."""
    samples = [
        {
            "timestamp": rfc3339(t / 1000),
            "name": labels["__name__"],
            "value": value,
            "labels": {k: v for k, v in labels.items() if k != "__name__"},
        }
        for labels, points in data
        for t, value in points
    ]
    with httpx.Client(timeout=120) as client:
        for n, start in enumerate(range(0, len(samples), POST_SAMPLES)):
            url = cluster.urls[n % len(cluster.urls)]
            body = orjson.dumps(samples[start : start + POST_SAMPLES])
            answer = client.post(
                f"{url}/v1/metrics", content=body, headers={"Content-Type": "application/json"}
            )
            if answer.status_code != 201:
                raise RuntimeError(f"loading samples: {answer.status_code} {answer.text[:300]}")
            if n % 50 == 0:
                say(f"loaded {start + POST_SAMPLES:,}/{len(samples):,} samples")
    return len(samples)


def _timed(client: httpx.Client, url: str, path: str, params: dict[str, str]) -> float:
    began = time.perf_counter()
    answer = client.post(f"{url}/api/v1/{path}", data=params)
    elapsed = time.perf_counter() - began
    answer.raise_for_status()
    return elapsed * 1000


def _p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[98]


def run(series: int = 1000, repeat: int = 30, seed: int = 1) -> None:
    """Load, measure and print the table."""
    data = generate(series, random.Random(seed))
    last_s = (BASE_S + HOUR_S - STEP_S) + 1
    cases = {
        "instant": ("query", {"query": EXPRESSION, "time": str(last_s)}),
        "range, 1 h at 60 s": (
            "query_range",
            {"query": EXPRESSION, "start": str(BASE_S + 300), "end": str(last_s), "step": "60"},
        ),
    }
    env = {
        "METRICS_AGENT__ENABLED": "false",  # host rows are not the load
        "METRICS_BUFFERS__MAX_SERIES": str(series + 1000),
    }
    cpu = f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    with tempfile.TemporaryDirectory() as tmp:
        say("starting Prometheus (promtool builds its blocks)")
        (Path(tmp) / "prom").mkdir()
        with (
            running_prometheus(data, Path(tmp) / "prom") as prometheus,
            LocalCluster(Path(tmp) / "cluster", extra_env=env) as cluster,
            httpx.Client(timeout=120) as client,
        ):
            loaded = load(cluster, data)
            rows = []
            for name, (path, params) in cases.items():
                ours, theirs = [], []
                differs = difference(
                    query(cluster.urls[0], path, params), query(prometheus, path, params)
                )
                for i in range(3 + repeat):  # 3 warm-ups, then in turn
                    node = cluster.urls[i % len(cluster.urls)]
                    mine = _timed(client, node, path, params)
                    other = _timed(client, prometheus, path, params)
                    if i >= 3:
                        ours.append(mine)
                        theirs.append(other)
                say(f"{name}: done")
                rows.append((name, ours, theirs, differs))
    typer.echo(
        f"\nPromQL `{EXPRESSION}`, {series:,} series x 1 h of 10 s samples ({loaded:,} "
        f"samples), {repeat} queries a side over HTTP, asked in turn ({cpu}):\n"
    )
    typer.echo(
        "| query | ours p50 / p99 ms | Prometheus p50 / p99 ms | ratio p50 (p99) | answers |"
    )
    typer.echo("|---|---:|---:|---:|---|")
    for name, ours, theirs, differs in rows:
        a50, b50 = statistics.median(ours), statistics.median(theirs)
        a99, b99 = _p99(ours), _p99(theirs)
        typer.echo(
            f"| {name} | {a50:.1f} / {a99:.1f} | {b50:.1f} / {b99:.1f} | "
            f"{a50 / b50:.1f}x ({a99 / b99:.1f}x) | {'same' if differs is None else differs} |"
        )


@app.command()
def main(
    series: Annotated[int, typer.Option(min=10, max=20_000, help="series of x")] = 1000,
    repeat: Annotated[int, typer.Option(min=5, help="timed queries a side")] = 30,
    seed: Annotated[int, typer.Option(help="seed of the data")] = 1,
) -> None:
    """PromQL latency of a real cluster beside a real Prometheus on the same data."""
    run(series, repeat, seed)


if __name__ == "__main__":
    app()
