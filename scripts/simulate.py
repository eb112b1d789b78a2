"""The original metrics-server simulator: 20 metrics, metric_a ... metric_t, each POSTing one
sample every 300 ms to /v1/metrics (about 67 requests/s in all), values uniform in [20, 40].

Unlike the original it never dies on the first error: a non-201 answer or a transport error is
counted, logged (one line per 5 s at most) and that metric's loop backs off briefly (the 503's
Retry-After, at most 5 s), then goes on. Requests are spread over the nodes round-robin; a node
that refuses connections is skipped. Exit codes: 0 it ran (server errors are in the summary),
1 bad input, 3 no node answered at the start.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer

from cluster.clients import common as _client

NAMES = tuple(f"metric_{letter}" for letter in "abcdefghijklmnopqrst")
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
MAX_BACKOFF = 5.0

log = logging.getLogger("simulate")
app = typer.Typer(add_completion=False)


class Stamps(StrEnum):
    now = "now"
    historical = "historical"


def historical_ms(rng: random.Random) -> int:
    """A random UTC time in January to March of 2023 or 2024, on day 1 to 28 (as the original)."""
    year, month, day = rng.choice((2023, 2024)), rng.randint(1, 3), rng.randint(1, 28)
    moment = datetime(
        year, month, day, rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), tzinfo=UTC
    )
    return int(moment.timestamp()) * 1000 + rng.randint(0, 999)


@dataclass
class Simulator:
    client: httpx.AsyncClient
    nodes: _client.Nodes
    progress: _client.Progress
    rng: random.Random = field(default_factory=random.Random)
    interval: float = 0.3
    historical: bool = False
    backoff: float = 1.0  # after a failure without Retry-After
    wall: _client.Clock = time.time
    warn: Callable[[str], None] = field(default_factory=lambda: _client.Throttled(log.warning))

    def sample(self, name: str) -> dict[str, Any]:
        ms = historical_ms(self.rng) if self.historical else _client.now_ms(self.wall)
        value = self.rng.uniform(20.0, 40.0)
        return {"timestamp": _client.rfc3339_ms(ms), "name": name, "value": value}

    async def post(self, name: str) -> float:
        """POST one sample of `name`; how long that metric should back off (0: no failure)."""
        self.progress.sent += 1
        try:
            response = await self.nodes.request(
                self.client, "POST", "/v1/metrics", json=self.sample(name)
            )
        except httpx.TransportError as exc:
            return self._failed(name, exc, self.backoff)
        if response.status_code == 201:
            self.progress.ok += 1
            return 0.0
        return self._failed(name, response, _client.retry_after(response, self.backoff))

    def _failed(self, name: str, outcome: httpx.Response | Exception, backoff: float) -> float:
        self.progress.errors += 1
        self.warn(f"{name}: {_client.describe(outcome)}")
        return min(max(backoff, self.interval), MAX_BACKOFF)

    async def run_metric(
        self, name: str, stop: asyncio.Event, count: int = 0, offset: float = 0.0
    ) -> None:
        """One sample every `interval` s until `stop` (or `count` samples, 0: no limit)."""
        if await _client.pause(stop, offset):
            return
        pacer = _client.Pacer(self.interval)
        done = 0
        while not stop.is_set() and (count == 0 or done < count):
            backoff = await self.post(name)
            done += 1
            if not await pacer.wait(stop, backoff):
                return

    async def run(self, names: Sequence[str], stop: asyncio.Event, count: int = 0) -> None:
        # staggered starts, so 20 metrics make a steady stream rather than bursts of 20
        await asyncio.gather(
            *(
                self.run_metric(name, stop, count, self.interval * i / len(names))
                for i, name in enumerate(names)
            )
        )


def metric_names(names: str | None, metrics: int) -> list[str]:
    if names is None:
        if not 1 <= metrics <= len(NAMES):
            _client.fail(f"--metrics must be 1 to {len(NAMES)}, got {metrics}")
        return list(NAMES[:metrics])
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    bad = [n for n in chosen if not NAME.fullmatch(n)]
    if not chosen or bad:
        _client.fail(f"--names must be comma-separated metric names like metric_a, got {names!r}")
    return chosen


async def simulate(
    stop: _client.Stop,
    urls: list[str],
    names: list[str],
    *,
    interval: float,
    duration: float,
    count: int,
    historical: bool,
    seed: int | None,
) -> int:
    async with _client.http_client() as client:
        if not await _client.probe(client, urls):
            return 3
        progress = _client.Progress()
        sim = Simulator(
            client, _client.Nodes(urls), progress, random.Random(seed), interval, historical
        )
        progress.emit(f"{len(names)} metrics, one sample each every {interval:g} s, to {urls}")
        async with _client.reporting(progress, stop, duration):
            await sim.run(names, stop, count)
    return 0


@app.command()
def main(
    url: _client.Urls = None,
    interval: Annotated[float, typer.Option(help="seconds between two samples of a metric")] = 0.3,
    names: Annotated[
        str | None, typer.Option(help="comma-separated metric names (instead of --metrics)")
    ] = None,
    metrics: Annotated[int, typer.Option(help="the first N of metric_a ... metric_t")] = 20,
    duration: Annotated[float, typer.Option(help="seconds to run; 0: until --count")] = 60.0,
    count: Annotated[int, typer.Option(help="samples per metric; 0: no limit")] = 0,
    timestamps: Annotated[
        Stamps, typer.Option(help="now, or historical: random times in Jan-Mar 2023 or 2024")
    ] = Stamps.now,
    seed: _client.Seed = None,
) -> None:
    """POST a sample of every metric every --interval s to /v1/metrics, for --duration s."""
    urls = _client.node_urls(url)
    chosen = metric_names(names, metrics)
    _client.positive(interval, "--interval")
    if duration < 0 or count < 0 or (duration == 0 and count == 0):
        _client.fail("give a --duration or a --count (more than 0) so that the run ends")
    _client.setup_logging()
    code = _client.run(
        lambda stop: simulate(
            stop,
            urls,
            chosen,
            interval=interval,
            duration=duration,
            count=count,
            historical=timestamps is Stamps.historical,
            seed=seed,
        )
    )
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
