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
import functools
import time
from collections.abc import Sequence
from typing import Any, Protocol

from cluster.common import wire
from cluster.common.config import Settings
from cluster.common.errors import ClusterError
from cluster.common.shards import check_layout, shard_of
from cluster.node.batcher import Batcher
from cluster.node.discovery import Discovery
from cluster.node.fanout import Fanout, first_error, split


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
    """`stores[i]` is the way to shard i (one store: an unsharded cluster, as before)."""

    def __init__(self, settings: Settings, stores: StoreClient | Sequence[StoreClient]) -> None:
        self.settings = settings
        self.stores = [stores] if not isinstance(stores, Sequence) else list(stores)
        self.batchers = [
            Batcher(
                store.apply,
                max_in_flight=settings.max_in_flight,
                max_batch_age=settings.max_batch_age,
                linger=settings.batch_linger,
                max_batch_labels=settings.max_batch_labels,
                max_pending_labels=settings.max_pending_labels,
                max_wait=settings.store_deadline,
            )
            for store in self.stores
        ]
        self._fanout = Fanout([store.read for store in self.stores])
        # A label's shard costs ~1.3 us to hash; the labels a node sees repeat.
        self._shard_of = functools.lru_cache(maxsize=1 << 17)(
            functools.partial(shard_of, shards=len(self.stores))
        )
        peers = [n for n in settings.nodes if n.name != settings.node_name]
        self.discovery = Discovery(peers, settings.discovery_interval, settings.discovery_timeout)
        self._probing: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    @classmethod
    def for_cluster(cls, settings: Settings) -> Node:
        """The real node: its store clients join the Ray head on `start()`. Refuses a data
        dir made with another number of shards (shards.LayoutError)."""
        from cluster.node.ray_client import RayStoreClient

        check_layout(settings.data_dir.resolve(), settings.shards)
        return cls(settings, [RayStoreClient(settings, i) for i in range(settings.shards)])

    @property
    def store(self) -> StoreClient:
        """Shard 0's: the one that reports Ray's connection and nodes."""
        return self.stores[0]

    async def start(self) -> None:
        for store in self.stores:
            await store.start()
        self._probing = asyncio.create_task(self.discovery.run())
        self._started = time.monotonic()

    async def close(self) -> None:
        await asyncio.gather(*(batcher.drain() for batcher in self.batchers))
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing
        await self.discovery.close()
        for store in reversed(self.stores):  # shard 0, which holds the Ray connection, last
            await store.close()

    @property
    def uptime(self) -> float:
        return time.monotonic() - self._started

    async def submit(self, request: wire.Request) -> dict[str, int]:
        """Apply one request durably, through the batchers: each touched label's value right
        after it. Raises the refusal (LimitReached, KeyReused, TooLate) or StoreUnavailable.
        Split over shards, it answers only once every part is durable; a failed part may
        leave others applied, and a retry with the same Idempotency-Key completes the rest."""
        if len(self.batchers) == 1:
            return await self.batchers[0].add(request)
        parts = split(request, len(self.batchers), self._shard_of)
        if len(parts) == 1:
            ((shard, part),) = parts.items()
            return await self.batchers[shard].add(part)
        # Parts with records first: theirs are the refusals a request's content can earn
        # (a full buffer, a sample too late), and then no counter of it has changed.
        values: dict[str, int] = {}
        for wave in (
            [(s, p) for s, p in parts.items() if p.records],
            [(s, p) for s, p in parts.items() if not p.records],
        ):
            if wave:
                values.update(await self._apply_all(wave))
        return values

    async def _apply_all(self, parts: list[tuple[int, wire.Request]]) -> dict[str, int]:
        """Parts on their shards concurrently; the first refusal if any failed, once all
        have settled (none is left unawaited)."""
        futures: list[asyncio.Future[dict[str, int]]] = []
        errors: list[BaseException] = []
        for shard, part in parts:
            try:
                futures.append(self.batchers[shard].enqueue(part))
            except ClusterError as exc:  # refused before queueing (a node limit)
                errors.append(exc)
        answers = await asyncio.gather(*futures, return_exceptions=True)
        errors += [a for a in answers if isinstance(a, BaseException)]
        if errors:
            raise first_error(errors)
        return {label: value for answer in answers for label, value in answer.items()}

    async def read(self, query: wire.Read) -> Any:
        return await self._fanout.read(query)

    async def delete_series(self, request: wire.DeleteSeries) -> dict[str, int]:
        """Delete the counters and series the selectors name (the admin API), on every shard."""
        return await self._fanout.delete(lambda shard: self.stores[shard].delete_series(request))

    async def status(self) -> list[dict[str, Any]]:
        """Each shard's actor, for /health and /cluster, without creating any."""
        found = await asyncio.gather(*(store.status() for store in self.stores))
        return [{"shard": shard, **state} for shard, state in enumerate(found)]
