"""Clients that keep sending big bodies the node refuses get 429 for a while, from the headers.

A refused big body still costs the node its reading and counting: 18 ms for a 3.7 MiB batch
over the label cap, and one client sending those back to back cut the node's small POSTs from
2,494/s to 375/s (measured, docs/architecture.md). So the node remembers, per client
connection (address and port), when a body of at least `penalty_body_bytes` was refused as
bad input (400, 413, 415, 422).
After `penalty_refusals` of those within `penalty_seconds`, that client's next big bodies are
answered 429 with Retry-After from their headers, the bytes left unread (the server drops
them); small requests are never held back, and neither is anyone whose big bodies are
accepted (a bulk loader). Only the routes that read a body (`BODY_ROUTES`) take part. A body
without a Content-Length (chunked) counts by the bytes the route read, and a held-back
client's chunked body is read up to `penalty_body_bytes` to tell whether it is big.

By connection first: every local client shares 127.0.0.1, and one of them sending bad batches
must not get another's good ones refused. A client that opens a new connection for each bad
body escapes that, so its address is held back too, after `_PER_ADDRESS` times as many
refusals within the window (then its neighbours on that address are held back with it, the
price of not letting it through). The node does not take X-Forwarded-For
(api/__main__.py), so no client can name another's address. The connections and addresses
remembered are bounded (the least recently refused go first); `penalty_refusals = 0` turns
this off.
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
# The routes that read a body (POST; the admin API is not one): only their big bodies count.
BODY_ROUTES = frozenset(
    {"/metrics", "/metrics/batch", "/v1/metrics", "/v1/hosts/metrics", "/event", "/v1/integers"}
)
_MAX_CLIENTS = 10_000  # connections and addresses remembered, the least recently refused first
_PER_ADDRESS = 4  # a whole address is held back after this many times one connection's count


class RefusedBodies:
    """The middleware and its memory (one per app: `app.state.refused_bodies`)."""

    def __init__(self, settings: Settings) -> None:
        self._limit = settings.penalty_refusals
        self._window = settings.penalty_seconds
        self._big = settings.penalty_body_bytes
        self._refused: OrderedDict[str, deque[float]] = OrderedDict()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            declared = _content_length(scope) if self._applies(scope) else 0
            if declared is not None and declared < self._big:
                await app(scope, receive, send)  # not a body route, or a small body
                return
            address, port = scope["client"][:2]
            client = f"{address} {port}"
            now = time.monotonic()
            wait = max(self.wait(client, now), self.wait(address, now, _PER_ADDRESS))
            if wait:
                if declared is None:  # chunked: big or not, its first bytes tell
                    held, big = await _peek(receive, self._big)
                    if not big:
                        await app(scope, _replay(held, receive), send)
                        return
                await self._hold_back(scope, send, wait)
                return
            read = 0

            async def counting() -> Message:
                nonlocal read
                message = await receive()
                read += len(message.get("body", b""))
                return message

            async def watching(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] in _BAD_INPUT:
                    if (declared or read) >= self._big:
                        self.refused(client, time.monotonic())
                        self.refused(address, time.monotonic(), _PER_ADDRESS)
                await send(message)

            await app(scope, receive if declared else counting, watching)

        return middleware

    def _applies(self, scope: Scope) -> bool:
        return bool(
            self._limit
            and scope["type"] == "http"
            and scope.get("client")
            and scope["method"] in ("POST", "PUT")
            and scope["path"] in BODY_ROUTES
        )

    def wait(self, client: str, now: float, times_more: int = 1) -> float:
        """Seconds until `client` may send big bodies again (0: now), held back after
        `times_more` times `penalty_refusals` refusals."""
        times = self._refused.get(client)
        if times is None:
            return 0.0
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._refused[client]
            return 0.0
        return times[0] + self._window - now if len(times) >= self._limit * times_more else 0.0

    def refused(self, client: str, now: float, times_more: int = 1) -> None:
        times = self._refused.pop(client, None) or deque(maxlen=self._limit * times_more)
        times.append(now)
        self._refused[client] = times  # the most recently refused last
        while len(self._refused) > _MAX_CLIENTS:
            self._refused.popitem(last=False)

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


def _content_length(scope: Scope) -> int | None:
    """The declared body size; None when there is none (a chunked body)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0  # not a number: the route answers
    return None


async def _peek(receive: Receive, limit: int) -> tuple[list[Message], bool]:
    """The body's first messages, until `limit` bytes or its end; whether it reached `limit`."""
    held, size = [], 0
    while True:
        message = await receive()
        held.append(message)
        size += len(message.get("body", b""))
        if size >= limit:
            return held, True
        if message["type"] != "http.request" or not message.get("more_body"):
            return held, False


def _replay(held: list[Message], receive: Receive) -> Receive:
    """`receive`, handing out the messages already read first."""
    pending = list(held)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _no_receive() -> dict[str, Any]:
    # The body is left unread: the server drops it (and sends no 100 Continue for it).
    return {"type": "http.disconnect"}


def install(app: Any, settings: Settings) -> None:
    """Before the app serves (Starlette builds its middleware stack at the first request)."""
    refused = RefusedBodies(settings)
    app.state.refused_bodies = refused
    app.add_middleware(refused.wrap)
