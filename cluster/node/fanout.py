"""A node's view of N shards (docs/sharding.md): a request split into one part per shard it
touches, and each read sent where its answer lives and merged.

Where things live is cluster/common/shards.py. Each shard's answer is of one state of that
shard; a read over several shards is the union of answers taken concurrently, not of one
moment across them: a write acknowledged before the read began is in it, one in flight may
be in some shards' part and not others'.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from cluster.common import shards as S
from cluster.common import wire
from cluster.common.errors import ClusterError, NotFound, StoreUnavailable
from cluster.query.errors import QueryError

Read = Callable[[wire.Read], Awaitable[Any]]


def split(
    request: wire.Request, count: int, shard_of: Callable[[str], int] | None = None
) -> dict[int, wire.Request]:
    """One part per shard the request touches, each with the request's Idempotency-Key (each
    shard keeps its own keys, so a retry completes exactly the parts not yet applied). A part
    holds each of its labels once, with its total (a label listed twice counts twice), so the
    cost follows the distinct labels, not the items. The same request always splits alike.
    `shard_of`: a label's shard of `count` (a node passes a cached one)."""
    place = shard_of or functools.partial(S.shard_of, shards=count)
    increments: dict[int, dict[int, list[str]]] = {}  # shard -> total -> labels
    for label, total in wire.totals(request.increments).items():
        increments.setdefault(place(label), {}).setdefault(total, []).append(label)
    records: dict[int, list[wire.Record]] = {}
    for record in request.records:
        records.setdefault(S.of_record(record, count), []).append(record)
    touched = sorted(set(increments) | set(records)) or [S.HOME]
    return {
        shard: wire.Request(
            [wire.Increment(labels, by) for by, labels in increments.get(shard, {}).items()],
            request.key,
            records.get(shard, []),
        )
        for shard in touched
    }


def first_error(errors: Sequence[BaseException]) -> BaseException:
    """What a request split over shards answers when parts failed: a refusal (limit, key
    reused, too late) before unavailability, since a retry would be refused again."""
    refusals = [
        e for e in errors if isinstance(e, ClusterError) and not isinstance(e, StoreUnavailable)
    ]
    return (refusals or list(errors))[0]


class Fanout:
    """Reads over the shards' stores, `reads[i]` reading shard i."""

    def __init__(self, reads: Sequence[Read]) -> None:
        self._reads = list(reads)

    async def _all(self, query: wire.Read) -> list[Any]:
        return list(await asyncio.gather(*(read(query) for read in self._reads)))

    async def _holding(self, query: wire.Read) -> list[Any]:
        """The answers of the shards that hold what `query` names; NotFound if none does."""
        answers = await asyncio.gather(
            *(read(query) for read in self._reads), return_exceptions=True
        )
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, NotFound):
                raise answer
        found = [a for a in answers if not isinstance(a, NotFound)]
        if not found:
            raise answers[0]
        return found

    async def read(self, query: wire.Read) -> Any:
        count = len(self._reads)
        if count == 1:
            return await self._reads[0](query)
        match query:
            case wire.AllCounters():
                return join_objects(await self._all(query))
            case wire.CounterValues(labels=labels):
                wanted: dict[int, list[str]] = {}
                for label in labels:
                    wanted.setdefault(S.shard_of(label, count), []).append(label)
                parts = await asyncio.gather(
                    *(self._reads[s](wire.CounterValues(ls)) for s, ls in wanted.items())
                )
                return {k: v for part in parts for k, v in part.items()}
            case wire.SeriesNames():
                return sorted(set().union(*await self._all(query)))
            case wire.SeriesRange():
                return merge_buckets(await self._holding(query))
            case wire.IntegerAverages():
                return await self._reads[S.shard_of("integer_average", count)](query)
            case wire.CounterChanges() | wire.SamplesAdded():
                return await self._changes(query)
            case wire.Scrape():
                answers = await self._all(query)
                return join_objects([c for c, _ in answers]), [p for _, ps in answers for p in ps]
            case wire.Select():
                return merge_selected(query, await self._all(query))
            case wire.LabelValues():
                found = {v for part in await self._all(query) for v in wire.decode_strings(part)}
                return wire.encode(list(found))
        return await self._reads[S.HOME](query)  # host rows and events

    async def delete(self, delete: Callable[[int], Awaitable[dict[str, int]]]) -> dict[str, int]:
        """The admin delete on every shard; the counts added up."""
        parts = await asyncio.gather(*(delete(s) for s in range(len(self._reads))))
        return {k: sum(p.get(k, 0) for p in parts) for k in {k for p in parts for k in p}}

    async def _changes(self, query: wire.CounterChanges | wire.SamplesAdded) -> Any:
        """A change feed over the shards: the place is every shard's (epoch, seq), carried as
        one epoch string (JSON) and seq 0; any shard starting over makes all start over, and
        so does more than `limit` changes in all."""
        places: list[list[Any]] = [["", 0]] * len(self._reads)
        if query.epoch:
            try:
                held = orjson.loads(query.epoch)
            except orjson.JSONDecodeError:
                held = None
            if isinstance(held, list) and len(held) == len(self._reads):
                places = held
        parts = await asyncio.gather(
            *(
                read(_at(query, str(epoch), int(seq)))
                for read, (epoch, seq) in zip(self._reads, places, strict=True)
            )
        )
        epoch = orjson.dumps([[e, s] for e, s, _ in parts]).decode()
        if any(changed is None for _, _, changed in parts):
            return epoch, 0, None
        if isinstance(query, wire.CounterChanges):
            merged: Any = {k: v for _, _, changed in parts for k, v in changed.items()}
        else:  # oldest first, as one shard gives them
            merged = list(heapq.merge(*(changed for _, _, changed in parts), key=lambda s: s.ts))
        return epoch, 0, None if len(merged) > query.limit else merged


def _at(query: wire.CounterChanges | wire.SamplesAdded, epoch: str, seq: int) -> wire.Read:
    if isinstance(query, wire.CounterChanges):
        return wire.CounterChanges(epoch, seq, query.limit)
    return wire.SamplesAdded(epoch, seq, query.limit, query.names)


def join_objects(parts: list[bytes]) -> bytes:
    """JSON objects with disjoint keys as one, without parsing them (a million counters)."""
    inner = [p.strip()[1:-1].strip() for p in parts]
    return b"{" + b",".join(p for p in inner if p) + b"}"


def merge_buckets(parts: list[list[wire.Bucket]]) -> list[wire.Bucket]:
    """A name's rollup buckets from every shard holding a series of it, newest first."""
    merged: dict[int, wire.Bucket] = {}
    for bucket in (b for part in parts for b in part):
        held = merged.get(bucket.start)
        merged[bucket.start] = (
            bucket
            if held is None
            else wire.Bucket(
                bucket.start,
                held.count + bucket.count,
                held.total + bucket.total,
                min(held.low, bucket.low),
                max(held.high, bucket.high),
            )
        )
    return [merged[start] for start in sorted(merged, reverse=True)]


def merge_selected(query: wire.Select, parts: list[bytes]) -> bytes:
    """Every shard's selected series as one answer, within the query's limits in all (each
    shard checked its own part against them)."""
    if len(parts) == 1:
        return parts[0]
    selected = [s for part in parts for s in wire.decode_selected(part)]
    if len(selected) > query.max_series:
        raise QueryError(
            f"query touches more than {query.max_series:,} series", error_type="execution"
        )
    points = sum(len(s.times_ms) // 8 for s in selected)
    if points > query.max_points:
        raise QueryError(
            f"query processing would read more than {query.max_points:,} samples",
            error_type="execution",
        )
    return wire.encode(selected)
