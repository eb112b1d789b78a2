"""Figures of the hardening work: what abuse costs now, measured, not asserted.

  keys     memory held by N keyed requests of L labels (tracemalloc, one actor in-process)
  cluster-keys  the actor's RSS in a real cluster before and after N keyed requests of L labels
  caps     time to refuse (or accept) the largest batches, as the node's event loop spends it
  hourly   a per-user hourly read over N last-hour events: its time and the longest pause
           of the actor's event loop meanwhile (a 1 ms ticker running beside it)
  save     a save of the record buffers holding N last-hour events: how long the actor's
           loop is held (taking the state) and the longest pause while a thread writes it
  fold     a fold of the log holding N changed counters: its time and the longest pause of the
           actor's loop meanwhile (it goes in steps, batches between them)
  start    time of `start` on a throwaway cluster, and whether every /cluster is true then
  abuse    p99 of small POSTs on a node (wrk) alone, then while oversized batches hit it
  label-reads  the same beside label reads without match[] over N counters (Grafana's
           metric browser), and how long each took

Each prints a markdown table. The cluster `start` makes uses free ports and a temporary data
dir and is stopped by pid.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import httpx
import orjson
import psutil
import typer

from api.routes.counters import batch_items
from cluster.actor import MetricsActor
from cluster.common import wire
from cluster.common.errors import InvalidInput, TooLarge
from cluster.ops.local import LocalCluster
from scripts import loadgen

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def keys(
    requests: Annotated[int, typer.Option(help="keyed requests")] = 10_000,
    labels: Annotated[str, typer.Option(help="labels per request, comma-separated")] = "1,100",
) -> None:
    """Memory the actor holds for Idempotency-Keys."""
    typer.echo("| keyed requests | labels each | held (tracemalloc) | accounted by the bound |")
    typer.echo("|---|---|---|---|")
    for count in (int(x) for x in labels.split(",")):
        actor = MetricsActor(f"{tempfile.mkdtemp()}/c.sqlite3")
        gc.collect()
        tracemalloc.start()
        for i in range(requests):
            increments = [wire.Increment([f"l{j}" for j in range(count)], 1)]
            batch = wire.Batch(wire.BatchId("n", i), {}, [wire.Request(increments, f"k{i}")])
            actor.apply_now(batch)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        accounted = actor.describe()["idempotency_keys"]["bytes"]
        typer.echo(
            f"| {requests:,} | {count} | {held / 2**20:.1f} MiB | {accounted / 2**20:.1f} MiB |"
        )


@app.command("cluster-keys")
def cluster_keys(
    requests: Annotated[int, typer.Option(help="keyed requests per run")] = 10_000,
    labels: Annotated[str, typer.Option(help="labels per request, comma-separated")] = "1,100",
) -> None:
    """Keyed POSTs through a throwaway three-node cluster, and the actor's RSS (psutil)."""
    cluster = LocalCluster(Path(tempfile.mkdtemp()) / "cluster")
    cluster.start()
    try:
        cluster.post(0, ["warm"], 1).raise_for_status()  # the actor exists
        pid = cluster.get(0, "/health").json()["actor"]["pid"]
        typer.echo("| keyed requests | labels each | actor RSS before | after | keys held |")
        typer.echo("|---|---|---|---|---|")
        for count in (int(n) for n in labels.split(",")):
            before = psutil.Process(pid).memory_info().rss
            asyncio.run(_post_keyed(cluster, requests, count))
            after = psutil.Process(pid).memory_info().rss
            held = cluster.get(0, "/health").json()["actor"]["idempotency_keys"]["held"]
            typer.echo(
                f"| {requests:,} | {count} | {before / 2**20:.0f} MiB | {after / 2**20:.0f} MiB "
                f"| {held:,} |"
            )
    finally:
        cluster.stop()


async def _post_keyed(cluster: LocalCluster, requests: int, labels: int) -> None:
    gate = asyncio.Semaphore(32)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        body = {"labels": [f"k{labels}-{j}" for j in range(labels)], "increment": 1}
        async with gate:
            answer = await client.post(
                f"{cluster.urls[i % cluster.nodes]}/metrics",
                json=body,
                headers={"Idempotency-Key": f"rss-{labels}-{i}"},
            )
        answer.raise_for_status()

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(one(client, i) for i in range(requests)))


@app.command()
def caps(repeat: Annotated[int, typer.Option(help="runs of each body")] = 5) -> None:
    """The node's work on the largest batches: counting, then validating what passes."""
    item = {"labels": ["a"], "increment": 1}
    long_labels = [
        {"labels": [f"{'x' * 24}-{i}-{j}" for j in range(10)], "increment": 1}
        for i in range(10_000)
    ]
    bodies = {
        "140k one-label items": orjson.dumps({"items": [item] * 140_000}),
        "the same cut at 4 MiB (not JSON)": orjson.dumps({"items": [item] * 140_000})[: 4 << 20],
        "9k items x 100 labels (900k labels)": orjson.dumps(
            {"items": [{"labels": ["a"] * 100, "increment": 1}] * 9_000}
        ),
        "10k items x 10 labels of 30 chars": orjson.dumps({"items": long_labels}),
    }
    typer.echo("| body | size | answer | median | max |")
    typer.echo("|---|---|---|---|---|")
    for name, body in bodies.items():
        times, answer = [], ""
        for _ in range(repeat):
            started = time.perf_counter()
            try:
                asyncio.run(batch_items(body, False, 10_000, 100_000))
                answer = "accepted"
            except TooLarge:
                answer = "413"
            except InvalidInput:
                answer = "400"
            times.append(time.perf_counter() - started)
        typer.echo(
            f"| {name} | {len(body) / 2**20:.1f} MiB | {answer} | "
            f"{1000 * statistics.median(times):.0f} ms | {1000 * max(times):.0f} ms |"
        )


@app.command()
def hourly(
    events: Annotated[int, typer.Option(help="last-hour events")] = 1_000_000,
    users: Annotated[int, typer.Option(help="distinct users")] = 200_000,
) -> None:
    """A per-user hourly read beside a 1 ms ticker on the actor's loop."""
    actor = _actor_with_events(events, users)

    async def measure(gaps: list[float]) -> None:
        typer.echo("| read | answer | time | longest loop pause |")
        typer.echo("|---|---|---|---|")
        for per_user in (False, True):
            gaps.clear()
            started = time.perf_counter()
            body = await actor.read(wire.HourlyTotals(per_user=per_user))
            took = time.perf_counter() - started
            what = "per user" if per_user else "total"
            typer.echo(
                f"| {what}, {events:,} events | {len(body) / 2**20:.1f} MiB | {took:.2f} s | "
                f"{1000 * max(gaps, default=0.0):.0f} ms |"
            )

    _beside_a_ticker(measure)


@app.command()
def save(
    events: Annotated[int, typer.Option(help="last-hour events")] = 1_000_000,
    users: Annotated[int, typer.Option(help="distinct users")] = 200_000,
    repeat: Annotated[int, typer.Option(help="saves")] = 3,
) -> None:
    """Saves of the record buffers beside a 1 ms ticker on the actor's loop."""
    actor = _actor_with_events(events, users)

    async def measure(gaps: list[float]) -> None:
        typer.echo("| save | state file | taking the state | whole save | longest loop pause |")
        typer.echo("|---|---|---|---|---|")
        for run in range(1, repeat + 1):
            await asyncio.sleep(0.05)
            gaps.clear()
            actor._records_dirty = True
            started = time.perf_counter()
            actor._save_records()
            taken = time.perf_counter() - started
            await actor._saving
            took = time.perf_counter() - started
            last = actor.describe()["record_saves"]["last"]
            typer.echo(
                f"| {run} | {last['bytes'] / 2**20:.0f} MiB | {1000 * taken:.0f} ms | "
                f"{took:.2f} s | {1000 * max(gaps, default=0.0):.0f} ms |"
            )

    _beside_a_ticker(measure)


@app.command()
def fold(
    counters: Annotated[int, typer.Option(help="counters changed since the last fold")] = 1_000_000,
) -> None:
    """A fold of the log beside a 1 ms ticker on the actor's loop."""
    actor = MetricsActor(
        f"{tempfile.mkdtemp()}/c.sqlite3", snapshot_every=10**9, max_counters=2 * counters
    )
    for seq, start in enumerate(range(0, counters, 100_000), start=1):
        labels = [f"c{i:08d}" for i in range(start, min(counters, start + 100_000))]
        request = wire.Request([wire.Increment(labels, 1)], None)
        actor.apply_now(wire.Batch(wire.BatchId("n", seq), {}, [request]))
    gc.collect(1)
    gc.freeze()  # as the actor's upkeep does every minute

    async def measure(gaps: list[float]) -> None:
        gaps.clear()
        started = time.perf_counter()
        actor._snapshot_every = 1
        actor._try_snapshot()
        while actor._folding is not None:
            await asyncio.sleep(0.01)
        took = time.perf_counter() - started
        failures = actor.describe()["snapshots"]["failures"]
        typer.echo("| changed counters | fold | longest loop pause | failures |")
        typer.echo("|---|---|---|---|")
        typer.echo(
            f"| {counters:,} | {took:.1f} s | {1000 * max(gaps, default=0.0):.0f} ms | {failures} |"
        )

    _beside_a_ticker(measure)


def _beside_a_ticker(measure: Callable[[list[float]], Awaitable[None]]) -> None:
    """Run `measure` in a loop beside a 1 ms ticker, handing it the ticker's gaps."""

    async def run() -> None:
        gaps: list[float] = []
        done = asyncio.Event()
        beat = asyncio.create_task(_ticker(gaps, done))
        await asyncio.sleep(0.01)
        try:
            await measure(gaps)
        finally:
            done.set()
            await beat

    asyncio.run(run())


def _actor_with_events(events: int, users: int) -> MetricsActor:
    limits = {"max_users": 2 * events, "max_recent_events": 2 * events}
    actor = MetricsActor(f"{tempfile.mkdtemp()}/c.sqlite3", record_limits=limits)
    now = time.time()
    for i in range(events):
        actor._records.events.add(f"user{i % users}", f"m{i % 10}", i % 7, now - 3000 + i / 1000)
    gc.collect(1)
    gc.freeze()  # as the actor's upkeep does every minute
    return actor


async def _ticker(gaps: list[float], done: asyncio.Event) -> None:
    last = time.perf_counter()
    while not done.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


@app.command()
def start(runs: Annotated[int, typer.Option(help="fresh starts")] = 3) -> None:
    """`start` on throwaway clusters: its time, and each node's view of its peers right then."""
    typer.echo("| run | start took | peers up in every /cluster at return |")
    typer.echo("|---|---|---|")
    for run in range(1, runs + 1):
        cluster = LocalCluster(Path(tempfile.mkdtemp()) / "cluster")
        started = time.monotonic()
        cluster.start()
        took = time.monotonic() - started
        try:
            views = [cluster.get(i, "/cluster").json()["peers"] for i in range(cluster.nodes)]
            true = all(p["status"] == "up" for view in views for p in view)
        finally:
            cluster.stop()
        typer.echo(f"| {run} | {took:.1f} s | {'yes' if true else 'no'} |")


@app.command()
def abuse(
    seconds: Annotated[int, typer.Option(help="seconds of load per phase")] = 10,
    connections: Annotated[int, typer.Option(help="wrk connections")] = 8,
    penalty: Annotated[bool, typer.Option(help="hold back clients with refused big bodies")] = True,
) -> None:
    """Small POSTs on node 0, alone and while a client keeps sending it refused batches."""
    hostile = orjson.dumps({"items": [{"labels": ["a"] * 100, "increment": 1}] * 9_000})
    off = {} if penalty else {"METRICS_PENALTY_REFUSALS": "0"}
    cluster = LocalCluster(Path(tempfile.mkdtemp()) / "cluster", extra_env=off)
    cluster.start()
    try:
        url = f"{cluster.urls[0]}/metrics/batch"
        headers = {"Content-Type": "application/json"}

        def send(client: httpx.Client) -> int:
            return client.post(url, content=hostile, headers=headers).status_code

        _small_posts_beside(cluster, send, "oversized batches", seconds, connections)
    finally:
        cluster.stop()


@app.command()
def label_reads(
    counters: Annotated[int, typer.Option(help="counters (room left for the calm one)")] = 999_999,
    seconds: Annotated[int, typer.Option(help="seconds of load per phase")] = 8,
    connections: Annotated[int, typer.Option(help="wrk connections")] = 8,
) -> None:
    """Label reads without match[] (Grafana's metric browser) over N counters: small POSTs on
    node 0 alone, then while a client asks it for every metric name back to back."""
    cluster = LocalCluster(Path(tempfile.mkdtemp()) / "cluster")
    cluster.start()
    try:
        with httpx.Client(timeout=120) as client:
            per = 10  # labels an item: 100k a request of 10,000 items
            for first in range(0, counters, 10_000 * per):
                labels = [f"c{n}" for n in range(first, min(first + 10_000 * per, counters))]
                items = [
                    {"labels": labels[i : i + per], "increment": 1}
                    for i in range(0, len(labels), per)
                ]
                answer = client.post(f"{cluster.urls[0]}/metrics/batch", json={"items": items})
                answer.raise_for_status()
            names = client.get(f"{cluster.urls[1]}/api/v1/label/__name__/values").json()["data"]
        typer.echo(f"{len(names):,} names listed", err=True)
        url = f"{cluster.urls[0]}/api/v1/label/__name__/values"  # the node under load
        _small_posts_beside(
            cluster, lambda client: client.get(url).status_code, "label reads", seconds, connections
        )
    finally:
        cluster.stop()


def _small_posts_beside(
    cluster: LocalCluster,
    send: Callable[[httpx.Client], int],
    what: str,
    seconds: int,
    connections: int,
) -> None:
    """Small POSTs on node 0 (wrk), alone and while another client sends `send` back to back
    and alone again (after a warm-up as long, unreported; the cluster's own work after loading
    may still show in the first): a table row each."""
    small = orjson.dumps({"labels": ["calm"], "increment": 1}).decode()
    cluster.post(0, ["calm"], 1).raise_for_status()  # the actor exists
    target = [f"{cluster.urls[0]}/metrics"]
    typer.echo(f"| phase | small POSTs/s | p50 | p99 | non-2xx | {what} (status: count) |")
    typer.echo("|---|---|---|---|---|---|")
    loadgen.post(target, small, seconds, connections)  # a warm-up: what loading left to do
    for phase in ("alone", f"with {what}", "alone again"):
        stop = threading.Event()
        statuses: dict[int, int] = {}
        times: list[float] = []
        args = (send, stop, statuses, times)
        thread = threading.Thread(target=_repeat, args=args) if phase.startswith("with") else None
        if thread:
            thread.start()
        result = loadgen.post(target, small, seconds, connections)
        stop.set()
        if thread:
            thread.join()
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())) or "-"
        if times:
            answers += f" (median {1000 * statistics.median(times):.0f} ms each)"
        typer.echo(
            f"| {phase} | {result.rps:,.0f} | {result.p50_ms:.1f} ms | "
            f"{result.p99_ms:.1f} ms | {result.non2xx} | {answers} |"
        )


def _repeat(
    send: Callable[[httpx.Client], int],
    stop: threading.Event,
    statuses: dict[int, int],
    times: list[float],
) -> None:
    """`send` back to back until `stop`, counting the answers."""
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            code = send(client)
            times.append(time.perf_counter() - started)
            statuses[code] = statuses.get(code, 0) + 1


if __name__ == "__main__":
    app()
