"""Side-by-side throughput benchmark, in one run and on the same ports:

  (a) bare   three FastAPI nodes that parse and validate the body and answer, counting nothing
  (b) naive  this project with group commit off: one awaited actor call per request
  (c) ours   this project with its defaults

wrk POSTs {"labels":["a","b","c"],"increment":1} across the three nodes; warm-up discarded;
variants alternate within each repetition. Then, on (c): bulk ingest through /metrics/batch,
GET /metrics latency with 100k labels, and the actor's memory per label at 1M labels. Last,
the query section (scripts/query_bench.py): PromQL latency beside a real Prometheus on the same
data. Prints markdown tables. A benchmark, not a test: nothing asserts a time. Needs wrk
(apt-get install -y wrk). Clusters use free ports and temporary data dirs, stopped by pid.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import httpx
import orjson
import psutil
import typer

from cluster.ops.local import LocalCluster, free_port_block
from scripts import loadgen, query_bench

app = typer.Typer(add_completion=False)
BODY = '{"labels":["a","b","c"],"increment":1}'
NAIVE = {
    "METRICS_MAX_IN_FLIGHT": "100000",
    "METRICS_MAX_BATCH_LABELS": "1",
    "METRICS_DATA_PATH": "ray",
}
QUIET = {"METRICS_AGENT__ENABLED": "false"}  # the host agent's posts are not the load


def say(message: str) -> None:
    typer.echo(f"{time.strftime('%H:%M:%S')} {message}", err=True)


@contextmanager
def bare_nodes(ports: list[int]) -> Iterator[list[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("bare_node.py")), "--port", str(p)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for p in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 60
        while not all(_answers(u) for u in urls):
            if time.monotonic() > deadline:
                raise RuntimeError("bare nodes did not start")
            time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def measure(urls: list[str], seconds: int, connections: int) -> loadgen.LoadResult:
    targets = [f"{u}/metrics" for u in urls]
    loadgen.post(targets, BODY, 3, connections)  # warm-up: discarded
    return loadgen.post(targets, BODY, seconds, connections)


def _row(name: str, runs: list[loadgen.LoadResult]) -> tuple[float, float, float]:
    rps = statistics.median(r.rps for r in runs)
    p50 = statistics.median(r.p50_ms for r in runs)
    p99 = statistics.median(r.p99_ms for r in runs)
    errors = sum(r.non2xx + r.socket_errors for r in runs)
    spread = f"{min(r.rps for r in runs):.0f}-{max(r.rps for r in runs):.0f}"
    typer.echo(f"| {name} | {rps:.0f} ({spread}) | {p50:.1f} | {p99:.1f} | {errors} |")
    return rps, p50, p99


def bulk(cluster: LocalCluster, seconds: int, pool: int) -> None:
    # every label of the pool once per request: nothing for group commit to merge
    items = [
        {"labels": [f"bulk_{(i * 10 + j) % pool:06d}" for j in range(10)], "increment": 1}
        for i in range(10_000)
    ]
    body = orjson.dumps({"items": items}).decode()
    per_request = 10 * len(items)
    targets = [f"{u}/metrics/batch" for u in cluster.urls]
    loadgen.post(targets, body, 3, 3)  # warm-up, and creates the pool's labels
    result = loadgen.post(targets, body, seconds, 3)
    typer.echo(
        f"| bulk ingest, /metrics/batch of 10,000 items x 10 labels ({len(body) >> 10} KiB), "
        f"3 connections | {result.rps * per_request:,.0f} label-increments/s "
        f"({result.rps:.1f} req/s, p99 {result.p99_ms:.0f} ms, "
        f"{result.non2xx + result.socket_errors} errors) |"
    )


def read_latency(cluster: LocalCluster, seconds: int) -> None:
    labels = len(cluster.counters())
    targets = [f"{u}/metrics" for u in cluster.urls]
    loadgen.get(targets, 3, 3)  # warm-up: discarded
    result = loadgen.get(targets, seconds, 3)
    typer.echo(
        f"| GET /metrics with {labels:,} labels, 3 connections | p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms ({result.rps:.0f} req/s) |"
    )


def memory_per_label(cluster: LocalCluster, labels: int) -> None:
    actor = psutil.Process(cluster.get(0, "/health").json()["actor"]["pid"])
    before, count_before = actor.memory_info().rss, len(cluster.counters())
    chunk = 100_000
    with httpx.Client(timeout=300) as client:
        for start in range(0, labels, chunk):
            items = [
                {"labels": [f"mem_{i:07d}" for i in range(s, s + 1000)], "increment": 1}
                for s in range(start, start + chunk, 1000)
            ]
            client.post(
                f"{cluster.urls[0]}/metrics/batch", json={"items": items}
            ).raise_for_status()
            say(f"memory: {start + chunk:,}/{labels:,} labels")
    after, count_after = actor.memory_info().rss, len(cluster.counters())
    added = count_after - count_before
    typer.echo(
        f"| actor RSS per label, {added:,} labels added ({count_after:,} held) | "
        f"{(after - before) / added:.0f} bytes ({before >> 20} -> {after >> 20} MiB) |"
    )


@app.command()
def main(
    quick: Annotated[bool, typer.Option(help="one short repetition, smaller extras")] = False,
    seconds: Annotated[int, typer.Option(min=1, help="seconds per measurement")] = 10,
    repeat: Annotated[int, typer.Option(min=1, help="repetitions of a/b/c")] = 3,
    connections: Annotated[int, typer.Option(min=3, help="wrk connections in all")] = 48,
    extras: Annotated[bool, typer.Option(help="bulk, read and memory figures too")] = True,
    ours: Annotated[
        list[str] | None, typer.Option(help="METRICS_X=value for variant (c) and the extras")
    ] = None,
    query: Annotated[bool, typer.Option(help="the query section, beside Prometheus")] = True,
    only_query: Annotated[bool, typer.Option(help="the query section alone")] = False,
) -> None:
    """Run the side-by-side benchmark and print markdown tables."""
    query_repeat = 10 if quick else 30
    if only_query:
        query_bench.run(repeat=query_repeat)
        return
    loadgen.require_wrk()
    try:
        ours_env = dict(setting.split("=", 1) for setting in ours or [])
    except ValueError:
        raise typer.BadParameter("--ours takes METRICS_NAME=value") from None
    if quick:
        seconds, repeat = 5, 1
    base = free_port_block()
    ports = [base + 75 + i for i in range(3)]
    runs: dict[str, list[loadgen.LoadResult]] = {"a": [], "b": [], "c": []}
    cpu = f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(1, repeat + 1):
            say(f"repetition {rep}/{repeat}: (a) bare nodes")
            with bare_nodes(ports) as urls:
                runs["a"].append(measure(urls, seconds, connections))
            for name, env in (("b", NAIVE), ("c", ours_env)):
                say(f"repetition {rep}/{repeat}: ({name}) {'naive' if name == 'b' else 'ours'}")
                with LocalCluster(Path(tmp) / name, extra_env=QUIET | env, base=base) as cluster:
                    runs[name].append(measure(cluster.urls, seconds, connections))
            say(f"  so far: { {k: [round(r.rps) for r in v] for k, v in runs.items()} }")
        typer.echo(
            f"\nPOST /metrics, wrk, {connections} connections over 3 nodes, {seconds} s "
            f"per run, median of {repeat} ({cpu}):\n"
        )
        typer.echo("| variant | req/s (min-max) | p50 ms | p99 ms | non-2xx + socket errors |")
        typer.echo("|---|---:|---:|---:|---:|")
        a = _row("(a) bare FastAPI nodes, no counting", runs["a"])
        b = _row("(b) naive: one actor call per request", runs["b"])
        c = _row("(c) this project (group commit)", runs["c"])
        typer.echo(
            f"\nratios: c/a = {c[0] / a[0]:.2f}, c/b = {c[0] / b[0]:.2f}, "
            f"p99 c/a = {c[2] / a[2]:.2f}\n"
        )
        if extras:
            _extras(Path(tmp), base, seconds, quick, ours_env)
    if query:
        query_bench.run(repeat=query_repeat)


def _extras(tmp: Path, base: int, seconds: int, quick: bool, ours_env: dict[str, str]) -> None:
    typer.echo("| extra (this project) | figure |")
    typer.echo("|---|---|")
    # room for the memory figure's million labels next to the bulk pool
    big = QUIET | {"METRICS_MAX_COUNTERS": "3000000"} | ours_env
    with LocalCluster(tmp / "extras", extra_env=big, base=base) as cluster:
        say("bulk ingest")
        bulk(cluster, seconds, pool=100_000)
        say("GET /metrics latency")
        read_latency(cluster, seconds)
        say("memory per label")
        memory_per_label(cluster, 100_000 if quick else 1_000_000)


if __name__ == "__main__":
    app()
