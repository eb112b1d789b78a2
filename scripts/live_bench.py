"""What live sockets cost a node: the CPU and memory of node 0 of a throwaway cluster (psutil)
while N clients hold sockets on it, in three phases of `--seconds` each:

  none     no socket (the node's own idle cost: discovery, the host agent's posts)
  idle     N sockets connected, no topic joined (phoenix.js before a join, or a page in the
           background)
  lobby    N sockets joined to metric:lobby, each taking its metrics_data push every second

The clients run in this process (asyncio, the `websockets` package) on the same cores, so only
the node's process is measured. Prints a markdown table. A benchmark, not a test.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
from pathlib import Path
from typing import Annotated

import orjson
import psutil
import typer
from websockets.asyncio.client import ClientConnection, connect

from cluster.ops.local import LocalCluster

app = typer.Typer(add_completion=False, help=__doc__)


def say(message: str) -> None:
    typer.echo(f"{time.strftime('%H:%M:%S')} {message}", err=True)


class Clients:
    """N sockets on one URL, each with a reader counting the pushes it gets."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.sockets: list[ClientConnection] = []
        self.pushes = 0
        self._readers: list[asyncio.Task[None]] = []

    async def open(self, count: int) -> None:
        for first in range(0, count, 100):  # in waves: a thousand handshakes at once time out
            wave = [connect(self._url, open_timeout=30) for _ in range(min(100, count - first))]
            self.sockets += await asyncio.gather(*wave)
        self._readers = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def _read(self, ws: ClientConnection) -> None:
        async for message in ws:
            if orjson.loads(message)[3] == "metrics_data":
                self.pushes += 1

    async def join(self) -> None:
        frame = orjson.dumps(["1", "1", "metric:lobby", "phx_join", {}]).decode()
        await asyncio.gather(*(ws.send(frame) for ws in self.sockets))

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


async def _measure(process: psutil.Process, seconds: float) -> tuple[float, float]:
    """The process's CPU (% of one core) over `seconds`, and its RSS at the end (MiB)."""
    before, started = process.cpu_times(), time.monotonic()
    await asyncio.sleep(seconds)
    after, elapsed = process.cpu_times(), time.monotonic() - started
    used = (after.user - before.user) + (after.system - before.system)
    return 100 * used / elapsed, process.memory_info().rss / 2**20


async def _run(cluster: LocalCluster, clients: int, seconds: float) -> None:
    process = psutil.Process(cluster.pids()[cluster.names[0]])
    url = cluster.urls[0].replace("http://", "ws://") + "/socket/websocket?vsn=2.0.0"
    rows = []
    await asyncio.sleep(seconds)  # the cluster settles after its start
    cpu, rss = await _measure(process, seconds)
    rows.append(("none", 0, cpu, rss, "-"))
    held = Clients(url)
    say(f"opening {clients:,} sockets")
    await held.open(clients)
    cpu, rss = await _measure(process, seconds)
    rows.append(("idle", clients, cpu, rss, "-"))
    await held.join()
    await asyncio.sleep(2)  # joined, the first pushes out
    pushes_before = held.pushes
    cpu, rss = await _measure(process, seconds)
    per_client = (held.pushes - pushes_before) / clients / seconds
    rows.append(("lobby", clients, cpu, rss, f"{per_client:.2f} pushes/s a client"))
    await held.close()
    typer.echo("| phase | sockets | node CPU (% of a core) | node RSS | received |")
    typer.echo("|---|---:|---:|---:|---|")
    for phase, count, cpu, rss, received in rows:
        typer.echo(f"| {phase} | {count:,} | {cpu:.1f}% | {rss:.0f} MiB | {received} |")


@app.command()
def main(
    clients: Annotated[int, typer.Option(min=1, help="sockets held on node 0")] = 1000,
    seconds: Annotated[float, typer.Option(min=1, help="seconds measured per phase")] = 10,
) -> None:
    """Node 0's CPU and memory with no socket, N idle sockets, N sockets on metric:lobby."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, clients + 1024)), hard))
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp) / "cluster") as cluster:
        asyncio.run(_run(cluster, clients, seconds))


if __name__ == "__main__":
    app()
