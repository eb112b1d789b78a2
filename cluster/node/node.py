"""One node's parts and their lifecycle: the store client (the way to the actor), the batcher
(group commit) and discovery (the peers' health). The HTTP app (api/) holds one `Node` and
calls nothing else of the cluster.

`start()` opens them in order and `close()` closes them in reverse: every accepted request is
answered before the store client closes. `Node.for_cluster(settings)` is the real node over
Ray; tests hand `Node` an in-process store client instead, and then nothing here imports Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from cluster.common import wire
from cluster.common.config import Settings
from cluster.node.batcher import Batcher
from cluster.node.discovery import Discovery


class StoreClient(Protocol):
    """The node's way to the actor (cluster/node/ray_client.py over Ray)."""

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def apply(self, batch: wire.Batch) -> wire.BatchDone: ...

    async def read(self, query: wire.Read) -> Any: ...

    async def delete_series(self, request: wire.DeleteSeries) -> dict[str, int]: ...

    async def status(self) -> dict[str, Any]: ...

    async def ray_nodes(self) -> list[dict[str, Any]]: ...


class Node:
    def __init__(self, settings: Settings, store: StoreClient) -> None:
        self.settings = settings
        self.store = store
        self.batcher = Batcher(
            store.apply,
            max_in_flight=settings.max_in_flight,
            max_batch_age=settings.max_batch_age,
            linger=settings.batch_linger,
            max_batch_labels=settings.max_batch_labels,
            max_pending_labels=settings.max_pending_labels,
            max_wait=settings.store_deadline,
        )
        peers = [n for n in settings.nodes if n.name != settings.node_name]
        self.discovery = Discovery(peers, settings.discovery_interval, settings.discovery_timeout)
        self._probing: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    @classmethod
    def for_cluster(cls, settings: Settings) -> Node:
        """The real node: its store client joins the Ray head on `start()`."""
        from cluster.node.ray_client import RayStoreClient

        return cls(settings, RayStoreClient(settings))

    async def start(self) -> None:
        await self.store.start()
        self._probing = asyncio.create_task(self.discovery.run())
        self._started = time.monotonic()

    async def close(self) -> None:
        await self.batcher.drain()
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing
        await self.discovery.close()
        await self.store.close()

    @property
    def uptime(self) -> float:
        return time.monotonic() - self._started

    async def submit(self, request: wire.Request) -> dict[str, int]:
        """Apply one request durably, through the batcher: each touched label's value right
        after it. Raises the refusal (LimitReached, KeyReused, TooLate) or StoreUnavailable."""
        return await self.batcher.add(request)

    async def read(self, query: wire.Read) -> Any:
        return await self.store.read(query)

    async def delete_series(self, request: wire.DeleteSeries) -> dict[str, int]:
        """Delete the counters and series the selectors name (the admin API)."""
        return await self.store.delete_series(request)
