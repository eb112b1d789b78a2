"""Durability figures for the README: recovery time, time from an actor kill to the first
successful request, and the cost of `fsync` durability against `process`.

  recovery     load a store of N labels the way a restarted actor does (no Ray needed)
  kill         kill -9 the actor of a throwaway cluster, time until a POST succeeds again
  durability   POST req/s against throwaway clusters in `process` and `fsync` mode, one run

Each prints a markdown table. Nothing here asserts a time: it is a benchmark, not a test.
The clusters it starts use free ports and temporary data dirs and are stopped by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from cluster.actor import MetricsActor
from cluster.actor.log import DurableLog
from cluster.common.wire import BatchId
from cluster.ops.local import LocalCluster
from scripts import loadgen

app = typer.Typer(add_completion=False, help=__doc__)


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None


@app.command()
def recovery(
    labels: Annotated[str, typer.Option(help="label counts to measure")] = "100000,1000000",
    log_rows: Annotated[
        int, typer.Option(help="log rows since the snapshot (worst case: snapshot_every - 1)")
    ] = 999,
    rounds: Annotated[int, typer.Option(min=1)] = 3,
) -> None:
    """Time MetricsActor's recovery after a crash: read the snapshot, replay the log written
    since, fold it into a new snapshot. A fresh store for every round."""
    typer.echo(f"| labels | log rows | recovery s (median of {rounds}) | min | max |")
    typer.echo("|---:|---:|---:|---:|---:|")
    for n in _ints(labels):
        times = []
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "counters.sqlite3"
                _crashed_store(path, n, log_rows)
                started = time.perf_counter()
                MetricsActor(str(path))
                times.append(time.perf_counter() - started)
                typer.echo(f"  {n} labels: {times[-1]:.3f} s", err=True)
        typer.echo(
            f"| {n:,} | {log_rows} | {statistics.median(times):.3f} | {min(times):.3f} | "
            f"{max(times):.3f} |"
        )


def _crashed_store(path: Path, labels: int, log_rows: int) -> None:
    """A store as a crash leaves it: a snapshot of `labels`, then `log_rows` batches of 100."""
    storage = DurableLog(path)
    storage.load()
    storage.snapshot({f"label_{i:07d}": i for i in range(labels)})
    for seq in range(1, log_rows + 1):
        changes = {f"label_{(seq * 100 + j) % labels:07d}": seq for j in range(100)}
        storage.commit(BatchId("bench", seq), changes, {}, now=time.time())
    storage.close()


@app.command()
def kill(
    rounds: Annotated[int, typer.Option(min=1)] = 5,
    labels: Annotated[int, typer.Option(help="labels held when the actor dies")] = 100_000,
) -> None:
    """Kill -9 the actor of a throwaway cluster; time until a POST succeeds again."""
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp)) as cluster:
        _fill(cluster, labels)
        typer.echo("| round | kill to first 200, s | actor recovery, s |")
        typer.echo("|---:|---:|---:|")
        for r in range(1, rounds + 1):
            pid = cluster.get(0, "/health").json()["actor"]["pid"]
            killed = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            while cluster.post(r % 3, ["after_kill"], 1).status_code != 200:
                pass
            took = time.perf_counter() - killed
            recovered = cluster.get(0, "/health").json()["actor"]["recovery"]["seconds"]
            typer.echo(f"| {r} | {took:.2f} | {recovered:.3f} |")


def _fill(cluster: LocalCluster, labels: int) -> None:
    step = 900
    for start in range(0, labels, step):
        names = [f"fill_{i}" for i in range(start, min(start + step, labels))]
        cluster.post(0, names, 1).raise_for_status()
        typer.echo(f"\r  filling: {min(start + step, labels)}/{labels} labels", err=True, nl=False)
    typer.echo("", err=True)


@app.command()
def durability(
    seconds: Annotated[int, typer.Option(min=1)] = 10,
    connections: Annotated[int, typer.Option(min=3, help="wrk connections in all")] = 48,
    rounds: Annotated[int, typer.Option(min=1)] = 3,
) -> None:
    """POST req/s (wrk) in `process` and `fsync` durability, side by side, alternating rounds."""
    loadgen.require_wrk()
    body = '{"labels":["a","b","c"],"increment":1}'
    results: dict[str, list[loadgen.LoadResult]] = {"process": [], "fsync": []}

    def urls(c: LocalCluster) -> list[str]:
        return [f"{url}/metrics" for url in c.urls]

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        clusters = {
            mode: stack.enter_context(
                LocalCluster(Path(tmp) / mode, extra_env={"METRICS_DURABILITY": mode})
            )
            for mode in results
        }
        for c in clusters.values():
            loadgen.post(urls(c), body, 2, connections)  # warm-up, discarded
        for r in range(rounds):
            for mode, c in clusters.items():
                results[mode].append(loadgen.post(urls(c), body, seconds, connections))
                typer.echo(f"  round {r + 1} {mode}: {results[mode][-1]}", err=True)
    typer.echo(f"| durability | req/s (median of {rounds}) | min | max | p99 ms | non-2xx |")
    typer.echo("|---|---:|---:|---:|---:|---:|")
    for mode, runs in results.items():
        rates = [run.rps for run in runs]
        typer.echo(
            f"| {mode} | {statistics.median(rates):.0f} | {min(rates):.0f} | {max(rates):.0f} "
            f"| {statistics.median(run.p99_ms for run in runs):.1f} "
            f"| {sum(run.non2xx + run.socket_errors for run in runs)} |"
        )


if __name__ == "__main__":
    app()
