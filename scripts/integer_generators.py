"""The loopstock integer generators: each generator (gen-1, gen-2, ...) publishes a random integer
1..10000 every 100 ms to POST /v1/integers, with its own increasing `seq` and the event time at
which the integer was drawn.

A POST that failed (transport error, 5xx, 408, 429) is resent with the same seq and timestamp
until a node takes it (the server ignores duplicates of a (generator, seq)) or refuses it as
late (400 late_integer: dropped, counted, logged). Other 400s are counted and dropped too.

It also keeps the exact average of what the server acknowledged, per 5 s window of event time
(window start = floor(ts / 5) * 5). With --verify it then polls GET /v1/integers (up to
--verify-timeout s) until the server shows the last window this run fully produced, and
compares every server row whose window lies wholly within the run with its own figure; that
assumes this run is the only producer. Exit codes: 0 it ran (and the figures agreed),
1 bad input or a figure differed by more than 1e-9, 3 no node answered at the start.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import typer

from cluster.clients import common as _client
from cluster.common.timeutil import parse_rfc3339

WINDOW_MS = 5000
TOLERANCE = 1e-9

log = logging.getLogger("integer_generators")
app = typer.Typer(add_completion=False)


def window_of(ms: int) -> int:
    """The start, in Unix ms, of the 5 s window holding the event time `ms`."""
    return ms // WINDOW_MS * WINDOW_MS


@dataclass
class Ledger:
    """Exact sums per window (start in Unix ms) of the integers the server acknowledged; the
    windows this run cannot vouch for (an integer given up on while its fate was unknown); the
    span of event time over which the run produced."""

    sums: dict[int, list[int]] = field(default_factory=dict)
    unsure: set[int] = field(default_factory=set)
    span: tuple[int, int] = (0, 0)

    def add(self, ms: int, integer: int) -> None:
        window = self.sums.setdefault(window_of(ms), [0, 0])
        window[0] += integer
        window[1] += 1

    def average(self, start: int) -> float | None:
        total, count = self.sums.get(start, (0, 0))
        return total / count if count else None  # int / int: the correctly rounded quotient

    def complete(self) -> list[int]:
        """Windows with integers, lying wholly within the span and not unsure, oldest first."""
        first, last = self.span
        return sorted(
            start
            for start in self.sums
            if start >= first and start + WINDOW_MS <= last and start not in self.unsure
        )


@dataclass
class Generators:
    client: httpx.AsyncClient
    nodes: _client.Nodes
    progress: _client.Progress
    ledger: Ledger = field(default_factory=Ledger)
    rng: random.Random = field(default_factory=random.Random)
    interval: float = 0.1
    resend_after: float = 0.2
    wall: _client.Clock = time.time
    warn: Callable[[str], None] = field(default_factory=lambda: _client.Throttled(log.warning))

    async def run_one(self, generator: str, stop: asyncio.Event, count: int = 0) -> None:
        """Publish until `stop` (or `count` integers, 0: no limit), one at a time, in seq order."""
        pacer = _client.Pacer(self.interval)
        seq = 0
        while not stop.is_set() and (count == 0 or seq < count):
            seq += 1
            ms = _client.now_ms(self.wall)
            event = {
                "integer": self.rng.randint(1, 10000),
                "generator": generator,
                "seq": seq,
                "timestamp": _client.rfc3339_ms(ms),
            }
            await self.deliver(event, ms, stop)
            if not await pacer.wait(stop):
                return

    async def deliver(self, event: dict[str, Any], ms: int, stop: asyncio.Event) -> None:
        """POST `event` until a node answers it for good; resends are the very same body."""
        where = f"{event['generator']} seq {event['seq']}"
        while True:
            self.progress.sent += 1
            outcome = await self._post(event)
            if isinstance(outcome, httpx.Response) and outcome.status_code == 201:
                self.progress.ok += 1
                self.ledger.add(ms, event["integer"])
                return
            if isinstance(outcome, httpx.Response) and not _client.worth_resending(
                outcome.status_code
            ):
                if _error_code(outcome) == "late_integer":
                    self.progress.inc("late")
                else:
                    self.progress.errors += 1
                self.warn(f"{where} dropped: {_client.describe(outcome)}")
                return
            self.progress.errors += 1
            self.warn(f"{where} will be resent: {_client.describe(outcome)}")
            if await _client.pause(stop, self.resend_after):
                self.ledger.unsure.add(window_of(ms))
                self.progress.inc("abandoned")
                return
            self.progress.inc("resent")

    async def _post(self, event: dict[str, Any]) -> httpx.Response | Exception:
        try:
            return await self.nodes.request(self.client, "POST", "/v1/integers", json=event)
        except httpx.TransportError as exc:
            return exc

    async def run(self, generators: list[str], stop: asyncio.Event, count: int = 0) -> None:
        first = _client.now_ms(self.wall)
        await asyncio.gather(*(self.run_one(g, stop, count) for g in generators))
        self.ledger.span = (first, _client.now_ms(self.wall))


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


async def fetch_rows(client: httpx.AsyncClient, nodes: _client.Nodes) -> dict[int, float] | None:
    """The server's windows as {start ms: average}, or None when no node answered well."""
    try:
        response = await nodes.request(client, "GET", "/v1/integers")
        rows = response.raise_for_status().json()
        return {
            round(parse_rfc3339(row["created_at"]) * 1000) - WINDOW_MS: row["integer"]
            for row in rows
        }
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("GET /v1/integers: %s", _client.describe(exc))
        return None


async def verify(
    client: httpx.AsyncClient,
    nodes: _client.Nodes,
    ledger: Ledger,
    stop: _client.Stop,
    *,
    timeout: float = 10.0,
    poll: float = 0.25,
    emit: Callable[[str], object] = print,
    clock: _client.Clock = time.monotonic,
) -> int:
    """Compare the server's averages with the ledger's; 1 when one differs or is missing."""
    expected = ledger.complete()
    if not expected:
        emit("verify: no 5 s window was wholly produced by this run (run it for 10 s or more)")
        return 0
    deadline = clock() + timeout
    rows = await fetch_rows(client, nodes)
    while (rows is None or max(rows, default=0) < expected[-1]) and clock() < deadline:
        if stop.interrupted:
            return 0
        await asyncio.sleep(poll)
        rows = await fetch_rows(client, nodes)
    if not rows:
        emit(f"verify: FAILED, the server showed no window within {timeout:g} s")
        return 1
    shown = [start for start in expected if start >= min(rows)]
    if not shown:
        emit("verify: FAILED, the server shows none of this run's windows, only newer ones")
        return 1
    bad = 0
    for start in shown:
        local, server = ledger.average(start), rows.get(start)
        ok = server is not None and local is not None and abs(server - local) <= TOLERANCE
        bad += not ok
        emit(
            f"window from {_client.rfc3339_ms(start)} (5 s): server {server!r}, local {local!r} "
            f"{'ok' if ok else 'DIFFERENT' if server is not None else 'MISSING on the server'}"
        )
    emit(f"verify: {len(shown) - bad} of {len(shown)} windows agree")
    return 1 if bad else 0


async def generate(
    stop: _client.Stop,
    urls: list[str],
    generators: list[str],
    *,
    options: dict[str, Any],
    duration: float,
    check: bool,
    verify_timeout: float,
) -> int:
    async with _client.http_client() as client:
        if not await _client.probe(client, urls):
            return 3
        progress = _client.Progress()
        nodes = _client.Nodes(urls)
        run = Generators(client, nodes, progress, **options)
        progress.emit(f"generators {', '.join(generators)}, one integer each {run.interval:g} s")
        async with _client.reporting(progress, stop, duration):
            await run.run(generators, stop)
        if not check or stop.interrupted:
            return 0
        return await verify(client, nodes, run.ledger, stop, timeout=verify_timeout)


@app.command()
def main(
    url: _client.Urls = None,
    generators: Annotated[int, typer.Option(help="how many generators")] = 2,
    prefix: Annotated[str, typer.Option(help="generator ids are <prefix>1, <prefix>2...")] = "gen-",
    interval: Annotated[float, typer.Option(help="seconds between two integers")] = 0.1,
    duration: Annotated[float, typer.Option(help="seconds to run")] = 30.0,
    check: Annotated[
        bool, typer.Option("--verify", help="compare the server's window averages at the end")
    ] = False,
    verify_timeout: Annotated[float, typer.Option(help="seconds --verify waits at most")] = 10.0,
    seed: _client.Seed = None,
) -> None:
    """Publish random integers from --generators generators for --duration s; --verify checks
    the server's 5 s averages against this run's."""
    urls = _client.node_urls(url)
    _client.positive(interval, "--interval")
    _client.positive(duration, "--duration")
    if not 1 <= generators <= 1000 or not prefix:
        _client.fail("--generators must be 1 to 1000 and --prefix not empty")
    _client.setup_logging()
    names = [f"{prefix}{i}" for i in range(1, generators + 1)]
    options = {"interval": interval, "rng": random.Random(seed)}
    code = _client.run(
        lambda stop: generate(
            stop,
            urls,
            names,
            options=options,
            duration=duration,
            check=check,
            verify_timeout=verify_timeout,
        )
    )
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
