"""Clients that keep sending big bodies the node refuses get 429 for a while, from the headers.

A refused big body still costs the node its reading and counting: 18 ms for a 3.7 MiB batch
over the label cap, and one client sending those back to back cut the node's small POSTs from
2,494/s to 375/s (measured, docs/architecture.md). So the node remembers, per client address,
when a body of at least `penalty_body_bytes` was refused as bad input (400, 413, 415, 422).
After `penalty_refusals` of those within `penalty_seconds`, that client's next big bodies are
answered 429 with Retry-After, their bytes drained unread; small requests are never held
back, and neither is anyone whose big bodies are accepted (a bulk loader). The addresses
remembered are bounded; `penalty_refusals = 0` turns this off.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from cluster.common.config import Settings

_BAD_INPUT = frozenset({400, 413, 415, 422})
_MAX_CLIENTS = 10_000  # addresses remembered; the least recently refused go first


class RefusedBodies:
    """The middleware and its memory (one per app: `app.state.refused_bodies`)."""

    def __init__(self, settings: Settings) -> None:
        self._limit = settings.penalty_refusals
        self._window = settings.penalty_seconds
        self._big = settings.penalty_body_bytes
        self._drain_limit = max(settings.max_body_bytes, settings.max_batch_body_bytes)
        self._refused: OrderedDict[str, deque[float]] = OrderedDict()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            client = scope.get("client")
            if not self._limit or scope["type"] != "http" or not client or not self._is_big(scope):
                await app(scope, receive, send)
                return
            host = client[0]
            wait = self.wait(host, time.monotonic())
            if wait:
                await _drain(receive, self._drain_limit)
                await self._hold_back(scope, send, wait)
                return

            async def watching(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] in _BAD_INPUT:
                    self.refused(host, time.monotonic())
                await send(message)

            await app(scope, receive, watching)

        return middleware

    def wait(self, host: str, now: float) -> float:
        """Seconds until `host` may send big bodies again (0: now)."""
        times = self._refused.get(host)
        if times is None:
            return 0.0
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._refused[host]
            return 0.0
        return times[0] + self._window - now if len(times) >= self._limit else 0.0

    def refused(self, host: str, now: float) -> None:
        times = self._refused.pop(host, None) or deque(maxlen=self._limit)
        times.append(now)
        self._refused[host] = times  # the most recently refused last
        while len(self._refused) > _MAX_CLIENTS:
            self._refused.popitem(last=False)

    def _is_big(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return value.isdigit() and int(value) >= self._big
        return False

    async def _hold_back(self, scope: Scope, send: Send, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        response = error_response(
            429,
            "Too Many Requests",
            f"this client sent {self._limit} refused bodies of {self._big} bytes or more within "
            f"{self._window:g} s; fix them, and send big bodies again in {seconds} s "
            "(small requests are served meanwhile)",
            {"Retry-After": str(seconds)},
            path=scope["path"],
        )
        await response(scope, _no_receive, send)


async def _drain(receive: Receive, limit: int) -> None:
    """Read the body and drop it, so the connection can carry the next request; past `limit`
    bytes (no route would read more) the server deals with the rest, as after a 413."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return
        size += len(message.get("body", b""))


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def install(app: Any, settings: Settings) -> None:
    """Before the app serves (Starlette builds its middleware stack at the first request)."""
    refused = RefusedBodies(settings)
    app.state.refused_bodies = refused
    app.add_middleware(refused.wrap)
