"""Host agent: samples this host every second (CPU, memory, and the disk of `/`, in percent) and
POSTs the samples to /v1/hosts/metrics, trying the nodes in the order given.

A long-running agent, started by the cluster supervisor, that outlives the cluster going down:
samples wait in a bounded buffer (the oldest dropped once it is full), sending is retried with
exponential backoff (0.5 s doubling to 30 s), and once a node answers, the backlog goes out
oldest-first in JSON lists of up to 500. Delivery is at least once: a batch whose request timed
out is sent again. A 4xx for a batch means no node will ever take it: it is logged and dropped.
Only changes of state are logged (down, back up), not every failed retry. It never exits on an
error; SIGTERM or SIGINT make one last flush (at most 2 s) and exit 0.
Exit codes: 0 stopped, 1 bad input, 3 this host could not be sampled at the start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import psutil
import tenacity
import typer

from cluster.clients import common as _client

PATH = "/v1/hosts/metrics"
BATCH = 500

log = logging.getLogger("host_agent")
app = typer.Typer(add_completion=False)
Sample = dict[str, Any]


def host_sampler(host_id: str, wall: _client.Clock = time.time) -> Callable[[], Sample]:
    psutil.cpu_percent(interval=None)  # the first call only starts the measurement

    def sample() -> Sample:
        return {
            "id": host_id,
            "cpu_usage": psutil.cpu_percent(interval=None),
            "memory_usage": psutil.virtual_memory().percent,
            "disk_usage": psutil.disk_usage("/").percent,
            "timestamp": _client.rfc3339_ms(_client.now_ms(wall)),
        }

    return sample


class Shipper:
    """The backlog of samples not yet taken by the cluster, and their sending.

    A batch is taken out of the backlog while it is in flight and put back at the front unless a
    node answered it (2xx, or a 4xx that drops it), so the order stays oldest-first and samples
    taken meanwhile cannot push the in-flight ones out of a full buffer.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        nodes: _client.Nodes,
        progress: _client.Progress,
        *,
        buffer: int = 3600,
        batch: int = BATCH,
    ) -> None:
        self.client = client
        self.nodes = nodes
        self.progress = progress
        self.backlog: deque[Sample] = deque(maxlen=buffer)
        self.batch = batch
        self.up = True
        self._in_flight = 0

    @property
    def pending(self) -> int:
        return len(self.backlog) + self._in_flight

    def add(self, sample: Sample) -> None:
        if len(self.backlog) == self.backlog.maxlen:
            self._overflow(1)
        self.backlog.append(sample)

    def _overflow(self, n: int) -> None:
        if "overflowed" not in self.progress.other:
            log.warning("buffer full (%d samples): dropping the oldest", self.backlog.maxlen)
        self.progress.inc("overflowed", n)

    def _put_back(self, batch: list[Sample]) -> None:
        room = (self.backlog.maxlen or 0) - len(self.backlog)
        excess = max(len(batch) - room, 0)
        if excess:
            self._overflow(excess)
        self.backlog.extendleft(reversed(batch[excess:]))

    async def flush(self) -> bool:
        """Send the backlog, oldest first; False when the cluster did not take it (kept)."""
        while self.backlog:
            batch = [self.backlog.popleft() for _ in range(min(self.batch, len(self.backlog)))]
            self._in_flight = len(batch)
            answered = False
            try:
                answered = await self._send(batch)
            finally:
                self._in_flight = 0
                if not answered:
                    self._put_back(batch)
            if not answered:
                return False
        return True

    async def _send(self, batch: list[Sample]) -> bool:
        self.progress.sent += 1
        body = batch[0] if len(batch) == 1 else batch
        try:
            response = await self.nodes.request(self.client, "POST", PATH, json=body)
        except httpx.TransportError as exc:
            return self._down(exc, len(batch))
        if _client.worth_resending(response.status_code):
            return self._down(response, len(batch))
        if not self.up:
            self.up = True
            log.info("cluster back up: sending %d buffered samples", self.pending)
        if response.is_success:
            self.progress.ok += 1
            self.progress.inc("samples", len(batch))
        else:
            self.progress.errors += 1
            self.progress.inc("dropped", len(batch))
            log.error("dropped a batch of %d samples: %s", len(batch), _client.describe(response))
        return True

    def _down(self, outcome: httpx.Response | Exception, in_flight: int) -> bool:
        self.progress.errors += 1
        if self.up:
            self.up = False
            log.warning(
                "cluster down (%s): buffering samples, %d so far; retrying with backoff",
                _client.describe(outcome),
                len(self.backlog) + in_flight,
            )
        return False

    async def send_loop(
        self, stop: asyncio.Event, wake: asyncio.Event, backoff: tuple[float, float] = (0.5, 30.0)
    ) -> None:
        """Flush whenever `wake` is set; after a failure wait, doubling from backoff[0] up to
        backoff[1], then try again (tenacity), for as long as it takes: each wake starts from
        backoff[0] again. A wait ends early when `stop` is set, and no attempt follows."""
        first, most = backoff
        retrying = tenacity.AsyncRetrying(
            wait=tenacity.wait_exponential(multiplier=first, min=first, max=most),
            retry=tenacity.retry_if_result(lambda sent: sent is False),  # None: stopped
            sleep=functools.partial(_client.pause, stop),
        )

        async def attempt() -> bool | None:
            return None if stop.is_set() else await self.flush()

        while True:
            await wake.wait()
            wake.clear()
            if await retrying(attempt) is None:
                return


async def sample_loop(
    sample: Callable[[], Sample],
    shipper: Shipper,
    wake: asyncio.Event,
    stop: asyncio.Event,
    interval: float,
) -> None:
    warn = _client.Throttled(log.warning, every=60.0)
    pacer = _client.Pacer(interval)
    while True:
        try:
            shipper.add(sample())
            wake.set()
        except (OSError, psutil.Error) as exc:
            warn(f"could not sample this host: {_client.describe(exc)}")
        if not await pacer.wait(stop):
            return


async def run_agent(
    client: httpx.AsyncClient,
    nodes: _client.Nodes,
    sample: Callable[[], Sample],
    stop: asyncio.Event,
    progress: _client.Progress,
    *,
    interval: float = 1.0,
    buffer: int = 3600,
    backoff: tuple[float, float] = (0.5, 30.0),
    last_flush: float = 2.0,
) -> Shipper:
    """Sample and ship until `stop`, then flush once more for at most `last_flush` s."""
    shipper = Shipper(client, nodes, progress, buffer=buffer)
    wake = asyncio.Event()
    sender = asyncio.create_task(shipper.send_loop(stop, wake, backoff))
    await sample_loop(sample, shipper, wake, stop, interval)
    wake.set()

    async def finish() -> None:
        await sender
        await shipper.flush()

    try:
        await asyncio.wait_for(finish(), last_flush)
    except TimeoutError:
        pass
    if shipper.pending:
        log.warning("stopping with %d samples not sent", shipper.pending)
    return shipper


async def agent(
    stop: _client.Stop, urls: list[str], host_id: str, duration: float, **options: Any
) -> int:
    progress = _client.Progress(emit=log.info)
    log.info("sampling host %r, sending to %s", host_id, ", ".join(urls))
    async with (
        _client.http_client() as client,
        _client.reporting(
            progress,
            stop,
            duration,
            every=60.0,  # a long-running agent: a line a minute
        ),
    ):
        nodes = _client.Nodes(urls, rotate=False)
        await run_agent(client, nodes, host_sampler(host_id), stop, progress, **options)
    return 0


@app.command()
def main(
    url: _client.Urls = None,
    host_id: Annotated[
        str | None, typer.Option("--id", help="this host's id", show_default="the hostname")
    ] = None,
    interval: Annotated[float, typer.Option(help="seconds between two samples")] = 1.0,
    duration: Annotated[float, typer.Option(help="seconds to run; 0: until stopped")] = 0.0,
    buffer: Annotated[int, typer.Option(help="samples kept while the cluster is down")] = 3600,
) -> None:
    """Sample this host's CPU, memory and disk use every --interval s and POST them to the
    cluster, buffering while it is down."""
    urls = _client.node_urls(url)
    _client.positive(interval, "--interval")
    if duration < 0 or buffer < 1:
        _client.fail("--duration must be 0 or more and --buffer at least 1")
    _client.setup_logging()
    host_id = host_id or socket.gethostname()
    try:
        host_sampler(host_id)()
    except (OSError, psutil.Error) as exc:
        _client.fail(f"cannot sample this host: {_client.describe(exc)}", 3)
    code = _client.run(
        lambda stop: agent(stop, urls, host_id, duration, interval=interval, buffer=buffer)
    )
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
