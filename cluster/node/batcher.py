"""Node-side group commit of increments.

A request joins the open batch. The batch goes to the actor as one call:
- at once when no call is in flight, so a lone request waits for nothing;
- while some (fewer than `max_in_flight`) are in flight, once it holds `max_batch_labels` labels
  or its oldest request has waited `max_batch_age` seconds;
- never while `max_in_flight` calls are in flight: it grows until one returns.
Requests without an Idempotency-Key are merged per label (a busy node sends one number per
label, not one per request) and each still gets the values right after its own increment.
Requests with records (samples, events, ...) go one by one, like keyed ones.

Bounds, so that no request harms the others:
- a request whose own per-label total passes `MAX_VALUE` is refused before it joins a batch, and
  a merged total never passes it (a request that would push one past goes alone), so every
  batch encodes; a batch that still cannot be encoded is split, each request sent alone;
- at most `max_pending_labels` labels (and records) wait for a call: past that a request is
  refused at once (`Overloaded`, 429) instead of queueing without end; a request that waited
  `max_wait` seconds without being sent fails (`StoreUnavailable`), nothing of it applied.

Every batch carries an id (node incarnation, sequence) that stays the same across retries, so the
actor applies it at most once. A request's future resolves only after the actor has durably
applied its batch; it fails with the store's error if the batch could not be applied before the
deadline (then nothing of it was).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec

from cluster.common.errors import (
    ClusterError,
    KeyReused,
    LimitReached,
    Overloaded,
    StoreUnavailable,
    TooLate,
)
from cluster.common.wire import (
    MAX_VALUE,
    Applied,
    Batch,
    BatchDone,
    BatchId,
    Outcome,
    Refused,
    Request,
    totals,
)

_REFUSALS: dict[str, type[ClusterError]] = {
    "limit": LimitReached,
    "key_reused": KeyReused,
    "late": TooLate,
    "busy": Overloaded,
}

Values = dict[str, int]
# Applies a batch durably, or raises (StoreUnavailable: nothing of it was applied).
ApplyFn = Callable[[Batch], Awaitable[BatchDone]]


@dataclass
class _Entry:
    """One request, its per-label totals, and the future its handler awaits."""

    request: Request
    future: asyncio.Future[Values]
    adds: Counter[str] = field(init=False)  # label -> total increment
    since: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.adds = totals(self.request.increments)

    @property
    def merges(self) -> bool:
        """Merged with the batch's others: it needs no answer of its own."""
        return self.request.key is None and not self.request.records


class Batcher:
    def __init__(
        self,
        apply: ApplyFn,
        max_in_flight: int = 2,
        max_batch_labels: int = 20_000,
        max_batch_age: float = 0.02,
        linger: float = 0.0,
        max_pending_labels: int = 1_000_000,
        max_wait: float = 10.0,
    ) -> None:
        self._apply = apply
        self._max_pending = max_pending_labels
        self._max_wait = max_wait
        self._max_in_flight = max_in_flight
        self._max_batch_labels = max_batch_labels
        self._max_batch_age = max_batch_age
        self._linger = linger
        self._busy = False  # the last batch held more than one request
        self._last_finished = 0.0
        # A new incarnation per process: sequences restart at 0 without colliding with old ids.
        self._incarnation = uuid.uuid4().hex
        self._seq = 0
        self._pending: list[_Entry] = []
        self._pending_labels = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    async def add(self, request: Request) -> Values:
        """Apply one request's increments and records (all or none); return each touched label's
        value right after them. With an Idempotency-Key, a repeat gets the first answer,
        changing nothing."""
        return await self.enqueue(request)

    def enqueue(self, request: Request) -> asyncio.Future[Values]:
        """`add` without awaiting: the future of its answer (several shards' parts are awaited
        together without a task each). Raises at once what `add` refuses before queueing."""
        entry = _Entry(request, asyncio.get_running_loop().create_future())
        if entry.adds and (top := max(entry.adds.values())) > MAX_VALUE:
            label = next(label for label, n in entry.adds.items() if n == top)
            raise LimitReached(
                f"this request adds {top} to counter {label!r} (a label listed several times "
                f"counts each time); no counter can exceed {MAX_VALUE}"
            )
        size = len(entry.adds) + len(request.records)
        if self._pending and self._pending_labels + size > self._max_pending:
            raise Overloaded(
                f"this node holds {self._pending_labels} labels waiting for the store, and this "
                f"request adds {size}; the limit is {self._max_pending}; retry shortly"
            )
        self._pending.append(entry)
        self._pending_labels += size
        self._dispatch()
        return entry.future

    async def drain(self) -> None:
        """Wait until every accepted request has been answered (shutdown)."""
        while self._in_flight or self._pending:
            self._dispatch(force=True)
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _dispatch(self, force: bool = False) -> None:
        self._expire()
        if self._pending:  # even while every call hangs, the oldest expires on time
            self._wake_in(self._pending[0].since + self._max_wait - time.monotonic())
        while self._pending and len(self._in_flight) < self._max_in_flight:
            now = time.monotonic()
            if self._in_flight:
                wait = self._pending[0].since + self._max_batch_age - now
            elif self._busy:
                # Under load, the clients just answered are about to send again: a moment's
                # wait lets their requests share this call instead of the next one.
                wait = self._last_finished + self._linger - now
            else:
                wait = 0.0
            if wait > 0 and not force and self._pending_labels < self._max_batch_labels:
                self._wake_in(wait)
                return
            task = asyncio.create_task(self._send(self._next_id(), self._take()))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _next_id(self) -> BatchId:
        self._seq += 1
        return BatchId(self._incarnation, self._seq)

    def _wake_in(self, wait: float) -> None:
        """Dispatch again in `wait` seconds, sooner than an earlier timer if need be (a call
        that returned turns a 20 ms age cap into a 2 ms linger)."""
        at = time.monotonic() + wait
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()  # uvloop's handles cannot tell when they are due: we keep it
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    def _take(self) -> list[_Entry]:
        count = size = 0
        for entry in self._pending:
            count += 1
            size += len(entry.adds) + len(entry.request.records)
            if size >= self._max_batch_labels:
                break
        batch, self._pending = self._pending[:count], self._pending[count:]
        self._pending_labels -= size
        self._busy = count > 1
        return batch

    def _expire(self) -> None:
        """Fail the requests that waited `max_wait` without being sent (the store is stuck:
        their clients are better told now than after the queue drains)."""
        too_old = time.monotonic() - self._max_wait
        while self._pending and self._pending[0].since < too_old:
            entry = self._pending.pop(0)
            self._pending_labels -= len(entry.adds) + len(entry.request.records)
            _settle(
                entry.future,
                StoreUnavailable(
                    f"the request waited {self._max_wait:g} s for the store without being "
                    "sent; nothing of it was applied"
                ),
            )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._last_finished = time.monotonic()
        self._dispatch()

    async def _send(self, batch_id: BatchId, batch: list[_Entry]) -> None:
        alone = [e for e in batch if not e.merges]
        merged_entries = [e for e in batch if e.merges]
        merged = _merge(merged_entries, alone)
        try:
            done = await self._apply(Batch(batch_id, dict(merged), [e.request for e in alone]))
        except (OverflowError, msgspec.EncodeError) as exc:
            if len(batch) == 1:
                _settle_all(batch, exc)
            else:  # not sent (encoding comes first): each request alone, only its own fails
                await asyncio.gather(*(self._send(self._next_id(), [e]) for e in batch))
            return
        except Exception as exc:  # every waiter must learn the batch's fate
            _settle_all(batch, exc)
            return
        _settle_each(alone, done.requests)
        if not merged_entries:
            return
        if isinstance(done.merged, Applied):
            _settle_merged(merged_entries, done.merged.values)
            return
        # Refused as a whole (a limit): apply request by request, so that only the requests
        # that cross the limit fail.
        one_by_one = Batch(self._next_id(), {}, [e.request for e in merged_entries])
        try:
            singles = await self._apply(one_by_one)
        except Exception as exc:
            _settle_all(merged_entries, exc)
            return
        _settle_each(merged_entries, singles.requests)


def _merge(entries: list[_Entry], alone: list[_Entry]) -> Counter[str]:
    """The per-label totals of `entries`. Should one push a total past MAX_VALUE (it would be
    refused, and past 2**64-1 it cannot even be encoded), that request moves to `alone`."""
    if len(entries) == 1:  # a lone (often bulk) request: nothing to merge
        return entries[0].adds
    merged: Counter[str] = Counter()
    for entry in entries:
        merged.update(entry.adds)
    if not merged or max(merged.values()) <= MAX_VALUE:
        return merged
    merged.clear()
    for entry in list(entries):
        if any(merged[label] + n > MAX_VALUE for label, n in entry.adds.items()):
            entries.remove(entry)
            alone.append(entry)
        else:
            merged.update(entry.adds)
    return merged


def _settle_all(entries: list[_Entry], exc: Exception) -> None:
    for entry in entries:
        _settle(entry.future, exc)


def _settle_each(entries: list[_Entry], results: list[Outcome]) -> None:
    for entry, result in zip(entries, results, strict=True):
        _settle(entry.future, result)


def _settle_merged(entries: list[_Entry], final: Values) -> None:
    """Each request's values right after its own increments: the batch's final values minus
    what the requests after it (in arrival order) added."""
    if len(entries) == 1:  # a lone request touched exactly the labels of `final`
        _settle(entries[0].future, final)
        return
    later: Counter[str] = Counter()
    for entry in reversed(entries):
        _settle(entry.future, {label: final[label] - later[label] for label in entry.adds})
        later.update(entry.adds)


def _settle(future: asyncio.Future[Values], outcome: Outcome | Values | Exception) -> None:
    if future.done():  # the request was cancelled (client went away); the batch still counts
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    elif isinstance(outcome, Refused):
        future.set_exception(_REFUSALS[outcome.reason](outcome.detail))
    else:
        future.set_result(outcome.values if isinstance(outcome, Applied) else outcome)
