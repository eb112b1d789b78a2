"""This node's own request statistics for GET /debug/vars: counts by route template and status,
failures, and latencies, kept by a pure ASGI middleware.

Contract: recording and `snapshot()` both run on the event loop thread and neither awaits, so a
snapshot never sees half of a request's update; orjson renders the snapshot, so the body is valid
JSON under any load (the Go original concatenated strings and left trailing commas). Statistics
are per process and start at `install()`."""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from typing import Any

import psutil
from fastapi import FastAPI
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "(unmatched)"
OVERFLOW = "(overflow)"
# Any other method becomes OTHER: a client picks the method, and must not pick table keys.
_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_perf_counter = time.perf_counter


async def _unbound(_scope: Scope, _receive: Receive, _send: Send) -> None:
    raise RuntimeError("RequestStats has not been wrapped around an app; use api.stats.install")


class RequestStats:
    """Counts every HTTP request by `"<METHOD> <path template>"` and status, and keeps totals,
    min/max/mean latency over successful requests and the last `window` of their latencies.

    A request fails when its status is >= 400 or its app raised; one that raised before
    responding counts as status 500. Paths no route matched share `"<METHOD> (unmatched)"`,
    and at most `max_keys` (route, status) pairs are kept; later new pairs go under
    `"<METHOD> (overflow)"`, so scanning random URLs cannot grow the table. Websocket and
    lifespan scopes pass through untouched."""

    def __init__(
        self, app: ASGIApp = _unbound, *, max_keys: int = 1000, window: int = 1024
    ) -> None:
        if max_keys < 1 or window < 1:
            raise ValueError(f"max_keys and window must be positive, not {max_keys}, {window}")
        self.app = app
        self.max_keys = max_keys
        self._counts: dict[tuple[str, str, int], int] = {}
        self._latencies: deque[float] = deque(maxlen=window)
        self._total = 0
        self._failed = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = 0.0
        self._plain: dict[int, tuple[Any, list[Any]]] = {}
        self._started = time.monotonic()
        self._process = psutil.Process()

    def wrap(self, app: ASGIApp) -> RequestStats:
        """Middleware factory for `app.add_middleware`: every build of the stack binds this same
        instance, so the counts survive a rebuild and the route can hold it from the start."""
        self.app = app
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        raised = True
        start = _perf_counter()
        try:
            await self.app(scope, receive, send_status)
            raised = False
        finally:
            self._record(scope, status, _perf_counter() - start, raised)

    def _record(self, scope: Scope, status: int, seconds: float, raised: bool) -> None:
        method = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        key = (method, self._template(scope) or UNMATCHED, status)
        counts = self._counts
        count = counts.get(key)
        if count is None:
            if len(counts) >= self.max_keys:
                key = (method, OVERFLOW, status)
            count = counts.get(key, 0)
        counts[key] = count + 1
        self._total += 1
        if raised or status >= 400:
            self._failed += 1
            return
        self._sum += seconds
        if seconds < self._min:
            self._min = seconds
        if seconds > self._max:
            self._max = seconds
        self._latencies.append(seconds)

    def _template(self, scope: Scope) -> str | None:
        """The matched route's path template as the client sees it, or None if none matched.

        Read after the app returns, from what the routers left in the scope (FastAPI 0.165,
        Starlette 1.10): an included router's routes put their effective context, prefix
        included, in scope["fastapi"]["effective_route_context"] (scope["route"] then holds the
        APIRoute without the include prefix); an APIRoute on the app's own router sets
        scope["route"]; a plain Starlette Route there sets only scope["endpoint"]."""
        context = scope.get("fastapi", {}).get("effective_route_context")
        if context is not None:
            route = context.starlette_route or context
        else:
            route = scope.get("route")
            if route is None and "endpoint" in scope:
                route = self._plain_route(scope, scope["endpoint"])
        path = getattr(route, "path_format", None)
        if not path or isinstance(route, Mount):  # a Mount left here matched nothing inside
            return None
        root_path = scope.get("root_path")
        if root_path:  # inside a Mount: prefix the part of root_path the mounts added
            path = root_path[len(scope.get("app_root_path", root_path)) :] + path
        return path

    def _plain_route(self, scope: Scope, endpoint: Any) -> Any:
        """The app router's Route serving `endpoint`, found once per endpoint (by identity: an
        endpoint may be unhashable); one served at several paths is matched again each time."""
        entry = self._plain.get(id(endpoint))
        if entry is None or entry[0] is not endpoint:
            routes = getattr(scope.get("router"), "routes", ())
            entry = (endpoint, [r for r in routes if getattr(r, "endpoint", None) is endpoint])
            self._plain[id(endpoint)] = entry
        candidates = entry[1]
        if len(candidates) == 1:
            return candidates[0]
        return next((r for r in candidates if r.matches(scope)[0] is not Match.NONE), None)

    def snapshot(self) -> dict[str, Any]:
        memory = self._process.memory_info()
        successful = self._total - self._failed
        routes: dict[str, dict[str, int]] = {}
        for (method, template, status), count in sorted(self._counts.items()):
            routes.setdefault(f"{method} {template}", {})[str(status)] = count
        return {
            "cmdline": list(sys.argv),
            "uptime_seconds": round(time.monotonic() - self._started, 3),
            "rss_bytes": memory.rss,
            "memstats": {"rss": memory.rss, "vms": memory.vms},
            "serverMetrics": {
                "requests": {
                    "total": self._total,
                    "failed": self._failed,
                    "successfull": successful,  # sic: the original's key, kept for its users
                    "successful": successful,
                },
                "responseTimes": {
                    "minimum": self._min if successful else None,
                    "maximum": self._max if successful else None,
                    "average": self._sum / successful if successful else None,
                },
            },
            "routes": routes,
            "latency_ms": percentiles_ms(list(self._latencies)),
        }


def percentiles_ms(samples: list[float]) -> dict[str, float | int | None]:
    """Nearest-rank p50/p90/p99 and max of `samples` (seconds), in milliseconds; None without
    samples."""
    ordered = sorted(samples)
    n = len(ordered)

    def rank(q: float) -> float | None:
        return round(ordered[max(math.ceil(q * n) - 1, 0)] * 1000, 3) if n else None

    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": rank(1.0), "samples": n}


def install(app: FastAPI, *, max_keys: int = 1000, window: int = 1024) -> None:
    """Count every request of `app`; the instance is `app.state.request_stats`.

    Must run before the app serves (Starlette refuses middleware afterwards). Starlette builds
    the middleware stack lazily, at the first request, by calling the factory given here; the
    instance is therefore made now and the factory is its bound `wrap`, so the route finds it
    in app.state before any request and a rebuilt stack keeps the same counts."""
    stats = RequestStats(max_keys=max_keys, window=window)
    app.state.request_stats = stats
    app.add_middleware(stats.wrap)
