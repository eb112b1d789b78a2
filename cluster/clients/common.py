"""What the load scripts share: the node URLs and failover between them, RFC 3339 stamps,
pacing, progress lines, throttled logging, and a run that SIGINT/SIGTERM end cleanly.

The host agent and the scripts under scripts/ import it as `cluster.clients.common`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import httpx
import typer

from cluster.common.config import Settings

# The request never reached that node, so sending it to another one cannot apply it twice.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout)

Clock = Callable[[], float]
Urls = Annotated[
    list[str] | None,
    typer.Option(
        "--url",
        help="a node's base URL; repeat for several",
        show_default="every node of the configuration (cluster.toml, METRICS_NODES)",
    ),
]
Seed = Annotated[int | None, typer.Option(help="seed the random values, for a repeatable run")]


def fail(message: str, code: int = 1) -> NoReturn:
    """End the script: 1 for bad input, 3 when something could not start."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def default_urls() -> list[str]:
    """Every node's URL as the configuration names them (`Settings().nodes`: cluster.toml, then
    METRICS_NODES, else the default of cluster/common/config.py). Read when needed, not at
    import; a configuration that cannot be read ends the script (exit 1) saying so."""
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError included
        fail(
            f"no --url given, and the configuration that names the nodes cannot be read: {exc}\n"
            "fix cluster.toml or the METRICS_* variables, or pass --url"
        )
    return [node.url for node in settings.nodes]


def node_urls(urls: Sequence[str] | None) -> list[str]:
    """The --url values without a trailing slash (none given: `default_urls()`); a malformed one
    ends the script (exit 1)."""
    checked = []
    for url in urls or default_urls():
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            fail(f"--url must look like http://127.0.0.1:4000, got {url!r}")
        checked.append(url.rstrip("/"))
    return checked


def positive(value: float, flag: str) -> float:
    if not value > 0:
        fail(f"{flag} must be more than 0, got {value}")
    return value


def setup_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request at INFO


def rfc3339_ms(ms: int) -> str:
    """`2024-02-02T11:43:02.099Z` for a time in Unix milliseconds."""
    seconds, millis = divmod(ms, 1000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def now_ms(wall: Clock = time.time) -> int:
    return int(wall() * 1000)


def worth_resending(status: int) -> bool:
    """The node could not take the request now; the same request may succeed later."""
    return status >= 500 or status in (408, 429)


def retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(float(response.headers.get("retry-after", "")), 0.0)
    except ValueError:
        return default


def describe(outcome: httpx.Response | Exception) -> str:
    if isinstance(outcome, httpx.Response):
        return f"{outcome.status_code} {outcome.text[:200]}".rstrip()
    return f"{type(outcome).__name__}: {outcome}".rstrip(": ")


class Nodes:
    """The nodes, spread over round-robin (or tried in the given order with `rotate=False`).

    A node that failed to answer (transport error, 502/503/504) is tried last for `cooldown` s.
    `request` goes on to the next node only when the request never reached the one tried
    (connect error), so one call applies a request at most once; every answer, 5xx included,
    is returned, and any other transport error (a read timeout: the node may have applied it)
    is raised at once, so the caller decides whether resending is safe.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        rotate: bool = True,
        cooldown: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("no node URL")
        self.urls = list(urls)
        self._rotate = rotate
        self._cooldown = cooldown
        self._clock = clock
        self._next = 0
        self._down_until: dict[str, float] = {}

    def order(self) -> list[str]:
        start = self._next
        if self._rotate:
            self._next = (start + 1) % len(self.urls)
        ring = self.urls[start:] + self.urls[:start]
        now = self._clock()
        return sorted(ring, key=lambda url: self._down_until.get(url, 0.0) > now)

    async def request(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        error: Exception | None = None
        for url in self.order():
            try:
                response = await client.request(method, url + path, **kwargs)
            except httpx.TransportError as exc:
                self._down_until[url] = self._clock() + self._cooldown
                if not isinstance(exc, NEVER_SENT):
                    raise
                error = exc
                continue
            if response.status_code in (502, 503, 504):
                self._down_until[url] = self._clock() + self._cooldown
            else:
                self._down_until.pop(url, None)
            return response
        assert error is not None
        raise error


def http_client(timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)))


async def probe(client: httpx.AsyncClient, urls: Sequence[str]) -> bool:
    """Whether any node answers HTTP at all (any status); logs the failure when none does."""
    for url in urls:
        try:
            await client.get(f"{url}/health", timeout=2.0)
            return True
        except httpx.TransportError:
            continue
    logging.getLogger(__name__).error("could not start: no node answered at %s", ", ".join(urls))
    return False


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, or less if `stop` is set meanwhile; True when stopped."""
    if seconds <= 0:
        await asyncio.sleep(0)
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


class Pacer:
    """Ticks every `interval` s on the monotonic clock; ticks missed while a request was slow are
    skipped, not made up for in a burst."""

    def __init__(self, interval: float, clock: Clock = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._next = clock()

    async def wait(self, stop: asyncio.Event, at_least: float = 0.0) -> bool:
        """Sleep until the next tick (and `at_least` s); False when stopped."""
        now = self._clock()
        self._next = max(self._next + self._interval, now + at_least)
        return not await pause(stop, self._next - now)


class Throttled:
    """Passes on at most one line per `every` s; the next line says how many were held back."""

    def __init__(
        self, log: Callable[[str], object], every: float = 5.0, clock: Clock = time.monotonic
    ) -> None:
        self._log = log
        self._every = every
        self._clock = clock
        self._last: float | None = None
        self._held = 0

    def __call__(self, message: str) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self._every:
            self._held += 1
            return
        if self._held:
            message += f" (and {self._held} more since the last line)"
        self._log(message)
        self._last, self._held = now, 0


class Progress:
    """The counters of one run (requests sent, answered ok, failed, and any others by name)
    and the lines reporting them."""

    def __init__(self, emit: Callable[[str], object] = typer.echo, clock: Clock = time.monotonic):
        self.sent = self.ok = self.errors = 0
        self.other: dict[str, int] = {}
        self.emit = emit
        self._clock = clock
        self._started = clock()
        self._mark = (self._started, 0)

    def inc(self, name: str, n: int = 1) -> None:
        self.other[name] = self.other.get(name, 0) + n

    def _counts(self) -> str:
        extra = "".join(f", {name} {n}" for name, n in self.other.items())
        return f"sent {self.sent}, ok {self.ok}, errors {self.errors}{extra}"

    def line(self) -> str:
        """Counts so far and the request rate since the previous line."""
        now = self._clock()
        since, sent = self._mark
        self._mark = (now, self.sent)
        return f"{self._counts()}, {(self.sent - sent) / max(now - since, 1e-9):.1f} req/s"

    def summary(self) -> str:
        elapsed = self._clock() - self._started
        rate = self.sent / max(elapsed, 1e-9)
        return f"done in {elapsed:.1f} s: {self._counts()}, {rate:.1f} req/s on average"

    async def report(self, stop: asyncio.Event, every: float = 5.0) -> None:
        while not await pause(stop, every):
            self.emit(self.line())


class Stop(asyncio.Event):
    """Set when the run ends: by its deadline, or by SIGINT/SIGTERM (then `interrupted`)."""

    interrupted = False

    def interrupt(self) -> None:
        self.interrupted = True
        self.set()


def run(main: Callable[[Stop], Awaitable[int]]) -> int:
    """`asyncio.run(main(stop))`, where SIGINT and SIGTERM set `stop` instead of raising, so the
    script still prints its summary (and flushes what it must) on Ctrl-C."""

    async def wrapper() -> int:
        stop = Stop()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.interrupt)
        return await main(stop)

    return asyncio.run(wrapper())


@asynccontextmanager
async def reporting(
    progress: Progress, stop: asyncio.Event, duration: float = 0.0, every: float = 5.0
) -> AsyncIterator[None]:
    """Progress lines every `every` s while the block runs, `stop` set after `duration` s
    (0: never), and the summary line when the block ends, however it ends."""

    async def deadline() -> None:
        if not await pause(stop, duration):
            stop.set()

    tasks = [asyncio.create_task(progress.report(stop, every))]
    if duration > 0:
        tasks.append(asyncio.create_task(deadline()))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        progress.emit(progress.summary())
