"""Node-side group commit of increments.

A request's increment joins the open batch. A batch goes out as one actor call as soon as fewer
than `max_in_flight` calls are running, so a lone request waits for nothing, and a busy node sends
few big batches instead of many small ones. Every batch carries an id (node incarnation, sequence)
that stays the same across retries, so the actor applies it at most once.

A request's future resolves only after the actor has applied its batch; it fails with the
store's error if the batch could not be applied before the deadline (then nothing of it was).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from cluster.errors import ClusterError, KeyReused, LimitReached
from cluster.store import BatchId, Item, ItemResult

_REFUSALS: dict[str, type[ClusterError]] = {"limit": LimitReached, "key_reused": KeyReused}

ApplyFn = Callable[[BatchId, list[Item]], Awaitable[list[ItemResult]]]


class Batcher:
    def __init__(self, apply: ApplyFn, max_in_flight: int = 2, max_batch_labels: int = 20_000):
        self._apply = apply
        self._max_in_flight = max_in_flight
        self._max_batch_labels = max_batch_labels
        # A new incarnation per process: sequences restart at 0 without colliding with old ids.
        self._incarnation = uuid.uuid4().hex
        self._seq = 0
        self._pending: list[tuple[Item, asyncio.Future[list[int]]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def add(
        self, labels: list[str], increment: int, key: str | None = None
    ) -> dict[str, int]:
        """Increment every label; return each label's value right after this increment.
        With an Idempotency-Key `key`, a repeat gets the first answer and changes nothing."""
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append(((labels, increment, key), future))
        self._dispatch()
        values = await future
        return dict(zip(labels, values, strict=True))

    async def drain(self) -> None:
        """Wait until every accepted increment has been answered (shutdown)."""
        while self._in_flight or self._pending:
            self._dispatch()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _dispatch(self) -> None:
        while self._pending and len(self._in_flight) < self._max_in_flight:
            batch = self._take_batch()
            self._seq += 1
            task = asyncio.create_task(self._send((self._incarnation, self._seq), batch))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _take_batch(self) -> list[tuple[Item, asyncio.Future[list[int]]]]:
        count = size = 0
        for item, _ in self._pending:
            count += 1
            size += len(item[0])
            if size >= self._max_batch_labels:
                break
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._dispatch()

    async def _send(
        self, batch_id: BatchId, batch: list[tuple[Item, asyncio.Future[list[int]]]]
    ) -> None:
        try:
            results = await self._apply(batch_id, [item for item, _ in batch])
        except Exception as exc:  # every waiter must learn the batch's fate
            for _, future in batch:
                _settle(future, exception=exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, dict):
                _settle(future, exception=_REFUSALS[result["error"]](result["detail"]))
            else:
                _settle(future, result=result)


def _settle(future: asyncio.Future[Any], *, result: Any = None, exception: Exception | None = None):
    if future.done():  # the request was cancelled (client went away); the batch still counts
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
