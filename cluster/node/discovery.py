"""Peer discovery: every `interval` seconds, probe each configured peer's /health and keep a
membership table. A peer is "down" from its first failed probe until a probe succeeds again, so
a killed node shows as down within one interval plus the probe timeout.

Until every peer has answered once, and for at most `WARMUP` seconds, peers are probed every
`FAST` seconds: nodes of a cluster start together, and a node's first view must not keep a peer
"down" for a whole interval just because it probed before the peer listened."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from cluster.common.config import NodeSpec

FAST = 0.1
WARMUP = 30.0


@dataclass
class PeerState:
    name: str
    url: str
    status: str = "unknown"  # unknown | up | down
    last_seen: float | None = None  # unix time of the last successful probe
    latency_ms: float | None = None
    consecutive_failures: int = 0
    last_error: str | None = None


class Discovery:
    def __init__(
        self,
        peers: list[NodeSpec],
        interval: float,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._interval = interval
        self._peers = {p.name: PeerState(name=p.name, url=p.url) for p in peers}
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    def table(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in self._peers.values()]

    async def run(self) -> None:
        """Probe forever; cancel the task to stop, then `close()`."""
        warm_until = time.monotonic() + WARMUP
        while True:
            started = time.monotonic()
            await self.probe_all()
            unseen = any(p.last_seen is None for p in self._peers.values())
            interval = FAST if unseen and started < warm_until else self._interval
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def close(self) -> None:
        await self._client.aclose()

    async def probe_all(self) -> None:
        await asyncio.gather(*(self._probe(p) for p in self._peers.values()))

    async def _probe(self, peer: PeerState) -> None:
        started = time.monotonic()
        try:
            response = await self._client.get(f"{peer.url}/health")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            peer.status = "down"
            peer.consecutive_failures += 1
            peer.last_error = f"{type(exc).__name__}: {exc}"[:200]
            return
        peer.status = "up"
        peer.latency_ms = round((time.monotonic() - started) * 1000, 2)
        peer.last_seen = time.time()
        peer.consecutive_failures = 0
        peer.last_error = None
