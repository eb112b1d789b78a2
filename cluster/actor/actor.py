"""MetricsActor: the one actor of the cluster. It holds every counter and the record buffers
(metric samples, host rows, events, integers: records.py), and writes every change to its
durable log (log.py).

Contract (what a caller may rely on):
- Durable when acknowledged: a batch is answered `BatchDone` only after it is committed to the
  log, in one transaction with its batch id. A restart (`__init__` runs again) restores
  everything committed before answering anything, and bumps `epoch`.
- Atomic: a batch is applied without awaiting in between, so no call sees half of it. A request
  that would cross a limit (too many distinct counters, a value above 2**63-1) or reuses an
  Idempotency-Key for another request is refused alone, with a reason, and changes nothing.
- Retries are safe: a batch id seen within `dedup_window` seconds is not applied again; its
  requests get the refusals they got the first time, or their labels' current values. Callers
  retry with the same id after `ActorUnavailableError`, when they cannot know whether the call
  ran. A request with an Idempotency-Key seen within `idempotency_window` gets the key's first
  answer. The windows are measured on the monotonic clock: a jump of the wall clock neither
  forgets an id early nor keeps it forever.
- Bounded: at most `max_keys` Idempotency-Keys, their answers at most `max_key_bytes` in all;
  past either a new keyed request is refused as "busy" (the node answers 429) until old keys
  expire. A key keeps a digest of its request, not the request.
- A commit never fails for what comes after it: folding the log (a snapshot) runs after the
  batch is answered, and when it fails it is retried with backoff while batches keep being
  committed; `describe()` (shown in /health) reports it.
- Records follow the same rules: a request's records and its increments are applied together
  or refused together, committed in the batch's transaction, replayed at recovery. The record
  buffers are saved at most every `records_snapshot_seconds`, by a thread while batches go on
  (statefile.py); the records they hold then leave the log.

Batches arrive as wire bytes (cluster/common/wire.py), through Ray (`apply`) or the direct path
(server.py): `answer` serves both. Ray is imported only where a Ray runtime exists, so unit
tests and the nodes' route tests drive the class directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson

from cluster.actor import select, statefile
from cluster.actor.changes import ChangeFeed
from cluster.actor.counters import Stage
from cluster.actor.log import Durability, DurableLog, LogError, request_digest
from cluster.actor.records import Pending, RecordLimits, Records
from cluster.actor.series import Retention
from cluster.actor.server import BatchServer
from cluster.common import wire
from cluster.common.errors import InvalidInput, StoreUnavailable
from cluster.common.wire import (
    Applied,
    Batch,
    BatchDone,
    BatchId,
    Outcome,
    Refused,
    Request,
    Sample,
    totals,
)

log = logging.getLogger(__name__)
_json = msgspec.json.encode

_MAINTAIN_EVERY = 1.0  # seconds between two passes of `maintain` (pruning, snapshot retries)
_RETRY_MAX = 60.0  # the longest wait before retrying a failed snapshot
_FREEZE_EVERY = 60.0  # seconds between two gc.freeze() of what the actor holds
_FOLD_STEP = 4_000  # counters a step of a fold writes: ~50 ms of the loop (~12 µs each, measured)


# What holding a key costs beside its answer's JSON: the key, the digest, the entry (measured:
# 10,000 keys of one label each take ~3 MiB of RSS).
_KEY_OVERHEAD = 300


class _Key:
    """An Idempotency-Key's first answer, as the JSON the log holds (a dict of values would
    take ~10x the memory; the answer is decoded only for a retry); `at` is monotonic."""

    __slots__ = ("digest", "answer", "at")

    def __init__(self, digest: bytes, answer: bytes, at: float) -> None:
        self.digest = digest
        self.answer = answer
        self.at = at

    @property
    def size(self) -> int:
        return _KEY_OVERHEAD + len(self.answer)

    @property
    def values(self) -> dict[str, int]:
        return orjson.loads(self.answer)


def _answer_bound(request: Request) -> int:
    """An upper bound of a key's `size` for this request's answer: a label's JSON entry takes
    its quoted text, a colon, at most 19 digits and a comma."""
    labels = (label for increment in request.increments for label in increment.labels)
    return _KEY_OVERHEAD + 2 + sum(len(label) + 24 for label in labels)


class MetricsActor:
    def __init__(
        self,
        db_path: str,
        durability: Durability = "process",
        max_counters: int = 1_000_000,
        dedup_window: float = 300.0,
        idempotency_window: float = 600.0,
        max_keys: int = 100_000,
        max_key_bytes: int = 64 << 20,
        snapshot_every: int = 1000,
        crash_after_commits: int = 0,
        record_limits: dict[str, Any] | None = None,
        records_snapshot_seconds: float = 60.0,
        shard: int = 0,
    ) -> None:
        started = time.perf_counter()
        self._shard = shard  # which part of the labels and series it holds (docs/sharding.md)
        self._log = DurableLog(Path(db_path), durability)
        recovered = self._log.load(keys_since=time.time() - idempotency_window)
        self._records = Records(_record_limits(record_limits or {}))
        self._records.load(recovered.state)
        self._records.apply(recovered.records)
        self._records_dirty = bool(recovered.records)
        # The record buffers are saved whole (events of the last hour, rollups...): at most this
        # often, since a save costs in proportion to what they hold. Until then their records
        # stay in the log, replayed at recovery.
        self._records_every = records_snapshot_seconds
        self._records_saved = time.monotonic()
        self._saving: asyncio.Task[None] | None = None  # the record buffers' save in flight
        self._saves = _Attempts("saving the record buffers")
        self._last_save: dict[str, float] = {}
        self._counts = recovered.counts
        # A counter deleted after the history was saved must not come back with it.
        self._records.history.delete(set(self._records.history.labels()) - self._counts.keys())
        mono, wall = time.monotonic(), time.time()
        # Monotonic commit times, oldest first (dicts keep insertion order), so pruning pops
        # from the front. Ids recovered from the log start a new window now.
        self._applied: dict[BatchId, float] = dict.fromkeys(recovered.applied, mono)
        # Refusals of recent batches, for their retries (in memory: after a restart a retried
        # batch that had a refused request gets current values for it).
        self._refused: dict[BatchId, tuple[Refused | None, dict[int, Refused]]] = {}
        # A recovered key keeps the age it had (the wall clock is all a restart can go by).
        self._keys: dict[str, _Key] = {}
        self._key_bytes = 0
        for key, (digest, answer, at) in recovered.idempotency.items():
            self._remember(key, _Key(digest, answer, mono - max(0.0, wall - at)))
        # Pruned from memory, to be deleted from the log by `maintain`.
        self._forget: tuple[list[BatchId], list[str]] = ([], [])
        self._max_keys = max_keys
        self._max_key_bytes = max_key_bytes
        self._epoch = recovered.epoch
        self._recovery: dict[str, float] = {
            "counters": len(self._counts),
            "replayed_labels": len(recovered.replayed),
            "replayed_records": len(recovered.records),
        }
        self._max_counters = max_counters
        self._dedup_window = dedup_window
        self._idempotency_window = idempotency_window
        self._snapshot_every = snapshot_every
        # Test-only fault switch: exit after this many commits, before replying (0: never).
        self._crash_after = crash_after_commits
        self._commits = 0
        self._dirty = recovered.replayed
        self._log_rows = recovered.log_rows
        self._started_at = time.time()
        self._json: bytes | None = None
        # What changed, for the nodes' live feeds: counters' labels, and samples added.
        self._changes: ChangeFeed[str] = ChangeFeed()
        self._added: ChangeFeed[Sample] = ChangeFeed()
        self._server: BatchServer | None = None
        self._maintainer: asyncio.Task[None] | None = None
        self._snapshot_due = False  # scheduled to run right after the current call
        self._closing = False
        self._folds = _Attempts("snapshot")
        self._folding: asyncio.Task[None] | None = None  # a fold in steps (_fold_in_steps)
        self._folding_labels: list[str] = []
        self._freeze_at = time.monotonic() + _FREEZE_EVERY
        # Folding the log costs more than replaying it: leave it to the usual threshold, so a
        # restart answers sooner. Only a log grown over several restarts is folded now.
        if self._log_rows >= self._snapshot_every:
            self._try_snapshot()
        self._recovery["seconds"] = round(time.perf_counter() - started, 4)
        # Long-lived objects (Ray's, the recovered state) out of the collector's way: a full
        # collection over them stalls every caller (measured up to 290 ms in a node).
        gc.collect()
        gc.freeze()

    # Writes

    async def apply(self, frame: bytes) -> bytes:
        """A batch through Ray: the wire's bytes in and out, as on the direct path."""
        self._keep_maintained()
        return wire.encode(self.answer(wire.decode_batch(frame)))

    def answer(self, batch: Batch) -> wire.BatchAnswer:
        """Apply `batch`: `BatchDone`, or `StoreFailed` when the log cannot be written (then
        nothing of the batch was applied)."""
        try:
            return self.apply_now(batch)
        except LogError as exc:
            return wire.StoreFailed(str(exc))

    def apply_now(self, batch: Batch) -> BatchDone:
        """Apply the requests one by one (each all or nothing), then the `merged` increments
        (all or nothing together); one commit for the whole batch. Raises LogError, having
        changed nothing, when the commit fails."""
        if batch.id in self._applied:
            return self._repeat(batch)
        now = time.time()
        stage = Stage(self._counts, self._max_counters)
        answers: dict[str, tuple[bytes, dict[str, int]]] = {}  # key -> (digest, values)
        outcomes: list[Outcome] = []
        accepted: list[wire.Record] = []
        pending = Pending()
        for request in batch.requests:
            key = request.key
            digest = None
            if key is not None:
                # Only a keyed request is compared with its key's first one: the others (every
                # record of a busy node's samples) skip building what they ask.
                digest = request_digest(orjson.dumps(request.identity()))
                earlier = answers.get(key) or self._first_answer(key)
                if earlier is not None:
                    same = earlier[0] == digest
                    outcomes.append(Applied(earlier[1]) if same else _key_reused(key))
                    continue
                if full := self._keys_full(request, len(answers)):
                    outcomes.append(full)
                    continue
            adds = self._records.check(request.records, now, pending) if request.records else None
            outcome = adds if isinstance(adds, Refused) else stage.add(totals(request.increments))
            if isinstance(outcome, Applied):
                if adds is not None:
                    pending.update(adds)
                accepted.extend(request.records)
                if digest is not None:
                    answers[key] = (digest, outcome.values)
            outcomes.append(outcome)
        merged = stage.add(batch.merged)
        # msgspec, not orjson: orjson's bytes keep their whole growth buffer (32 KiB for a 1 KiB
        # answer, measured), and these are held for the key's window.
        encoded = {key: (digest, _json(values)) for key, (digest, values) in answers.items()}
        self._log.commit(batch.id, stage.changes, encoded, now, accepted)
        # Only now, with the batch on disk, does memory change: a failed write leaves no trace.
        mono = time.monotonic()
        self._applied[batch.id] = mono
        self._records.apply(accepted)
        self._records_dirty = self._records_dirty or bool(accepted)
        self._counts.update(stage.changes)
        self._dirty.update(stage.changes)
        self._records.history.note(stage.changes)
        self._changes.note(stage.changes)
        self._added.note(r for r in accepted if isinstance(r, Sample))
        if stage.changes:
            self._json = None
        refusals = {i: o for i, o in enumerate(outcomes) if isinstance(o, Refused)}
        if refusals or isinstance(merged, Refused):
            # A retry of this batch must be refused again, not answered with current values.
            self._refused[batch.id] = (merged if isinstance(merged, Refused) else None, refusals)
        for key, (digest, answer) in encoded.items():
            self._remember(key, _Key(digest, answer, mono))
        self._log_rows += 1
        self._commits += 1
        if self._crash_after and self._commits >= self._crash_after:
            os._exit(17)
        if self._log_rows >= self._snapshot_every:
            self._schedule_snapshot()
        return BatchDone(merged, outcomes)

    # Idempotency-Keys

    def _first_answer(self, key: str) -> tuple[bytes, dict[str, int]] | None:
        held = self._keys.get(key)
        if held is None or held.at < time.monotonic() - self._idempotency_window:
            return None  # expired, not yet pruned: a new request
        return held.digest, held.values

    def _keys_full(self, request: Request, staged: int) -> Refused | None:
        """A refusal when holding one more key (`staged` are this batch's) would pass a bound."""
        self._prune(time.monotonic())
        if len(self._keys) + staged >= self._max_keys:
            held = f"{len(self._keys)} Idempotency-Keys; the limit is {self._max_keys}"
        elif self._key_bytes + _answer_bound(request) > self._max_key_bytes:
            held = f"{self._key_bytes} bytes of answers; the limit is {self._max_key_bytes}"
        else:
            return None
        oldest = next(iter(self._keys.values()), None)
        wait = self._idempotency_window - (time.monotonic() - oldest.at) if oldest else 1.0
        return Refused(
            "busy",
            f"the cluster holds {held}; retry in {max(1, round(wait))} s, or send the request "
            "without an Idempotency-Key",
        )

    def _remember(self, key: str, held: _Key) -> None:
        """Hold a key's answer, newest last (an expired one of the same name goes first)."""
        old = self._keys.pop(key, None)
        if old is not None:
            self._key_bytes -= old.size
        self._keys[key] = held
        self._key_bytes += held.size

    # Upkeep: off the request path, on a timer of the actor's event loop

    def _keep_maintained(self) -> None:
        """Start the upkeep task in the running loop, once (tests run several loops)."""
        if self._maintainer is None or self._maintainer.done():
            self._maintainer = asyncio.get_running_loop().create_task(self._maintain_forever())

    async def _maintain_forever(self) -> None:
        while True:
            await asyncio.sleep(_MAINTAIN_EVERY)
            try:
                self.maintain()
            except Exception:  # the upkeep must outlive any one pass
                log.exception("upkeep pass failed; the next one runs in %g s", _MAINTAIN_EVERY)

    def maintain(self) -> None:
        """Forget expired batch ids and keys (memory and log), and retry a failed snapshot
        when its backoff has passed."""
        mono = time.monotonic()
        if mono >= self._freeze_at:
            # What the buffers gained (a million events are a million tuples) out of the
            # collector's way: a full collection over them paused the loop ~110 ms (measured)
            # in the middle of reads and batches. Young garbage is collected first, so little
            # that is garbage is frozen.
            gc.collect(1)
            gc.freeze()
            self._freeze_at = mono + _FREEZE_EVERY
        self._prune(mono)
        if self._records.history.tick(time.time(), self._counts):
            self._records_dirty = True
        ids, keys = self._forget
        self._forget = ([], [])
        # A key pruned and then used again for a new request names a new row: keep that one.
        keys = [key for key in keys if key not in self._keys]
        if ids or keys:
            try:
                self._log.forget(ids, keys)
            except LogError as exc:  # left in the log: a restart loads them and ages them out
                log.warning("%s", exc)
        self._try_snapshot()

    def _prune(self, mono: float) -> None:
        """Drop expired batch ids and keys from memory; `maintain` deletes them from the log."""
        cutoff = mono - self._dedup_window
        applied = self._applied
        while applied:
            oldest = next(iter(applied))
            if applied[oldest] >= cutoff:
                break
            del applied[oldest]
            self._refused.pop(oldest, None)
            self._forget[0].append(oldest)
        cutoff = mono - self._idempotency_window
        held = self._keys
        while held:
            key = next(iter(held))
            if held[key].at >= cutoff:
                break
            self._key_bytes -= held.pop(key).size
            self._forget[1].append(key)

    def _schedule_snapshot(self) -> None:
        """Fold the log right after the current call has answered (in the loop's next turn),
        or now when no loop runs (tests driving `apply_now` directly)."""
        if not _running_loop():
            self._try_snapshot()
        elif not self._snapshot_due:
            self._snapshot_due = True
            asyncio.get_running_loop().call_soon(self._try_snapshot)

    def _try_snapshot(self) -> None:
        """Fold the log when it is long enough; start saving the record buffers when they
        changed and their interval has passed. Each retries after a failure's backoff."""
        self._snapshot_due = False
        if self._closing:
            return
        if self._log_rows >= self._snapshot_every and self._folds.ready() and not self._folding:
            if len(self._dirty) > _FOLD_STEP and _running_loop():
                self._folding = asyncio.get_running_loop().create_task(self._fold_in_steps())
            else:
                try:
                    self._fold()
                except Exception as exc:  # LogError or not: retried, and /health says why
                    self._folds.failed(exc)
                else:
                    self._folds.ok()
        due = time.monotonic() - self._records_saved >= self._records_every
        if self._records_dirty and due and self._saves.ready():
            self._save_records()

    def _repeat(self, batch: Batch) -> BatchDone:
        merged_refusal, refusals = self._refused.get(batch.id, (None, {}))
        merged = merged_refusal or self._current(batch.merged)
        return BatchDone(
            merged,
            [refusals.get(i) or self._repeat_one(r) for i, r in enumerate(batch.requests)],
        )

    def _repeat_one(self, request: Request) -> Outcome:
        if request.key is not None and request.key in self._keys:
            return Applied(self._keys[request.key].values)
        return self._current(totals(request.increments))

    def _current(self, labels: dict[str, int]) -> Applied:
        return Applied({label: self._counts.get(label, 0) for label in labels})

    def _fold(self, deleted: list[str] | None = None) -> None:
        """Fold the log into the counters' snapshot; remove the `deleted` counters in the same
        transaction. A fold in steps under way is taken over: its labels are written here too,
        since this one empties the whole log."""
        if self._folding is not None:
            self._dirty.update(self._folding_labels)
            self._folding.cancel()
            self._folding, self._folding_labels = None, []
        gone = set(deleted or ())
        values = {k: self._counts[k] for k in self._dirty if k not in gone and k in self._counts}
        self._log.snapshot(values, deleted=deleted)
        for label in gone:
            del self._counts[label]
        self._changes.note(gone)
        if gone:
            self._json = None
        self._dirty.clear()
        self._log_rows = 0

    async def _fold_in_steps(self) -> None:
        """Fold a long log a step at a time, batches committing between the steps: one
        transaction wrote a million changed counters in 4.9-10 s (measured), every batch waiting.
        Each step writes the current values of up to _FOLD_STEP of the counters changed when
        the fold began; the last deletes the log's rows up to that moment. Values are absolute,
        so a crash between steps loses nothing: recovery replays those rows over the snapshot.
        Counters changed meanwhile are noted for the next fold."""
        labels, rows = list(self._dirty), self._log_rows
        self._folding_labels, self._dirty = labels, set()
        try:
            mark = self._log.log_mark()
            for start in range(0, len(labels), _FOLD_STEP):
                step = labels[start : start + _FOLD_STEP]
                self._log.fold_step({k: self._counts[k] for k in step if k in self._counts})
                # A timer, not sleep(0): woken by it, the fold queues behind the batches that
                # arrived meanwhile instead of ahead of them, so they wait one step at most.
                await asyncio.sleep(0.001)
            self._log.fold_end(mark)
        except asyncio.CancelledError:  # taken over by _fold, which wrote these labels
            return
        except Exception as exc:  # the labels stay to fold; retried after the backoff
            self._dirty.update(labels)
            self._folds.failed(exc)
        else:
            self._log_rows = max(0, self._log_rows - rows)
            self._folds.ok()
        finally:
            if self._folding is asyncio.current_task():
                self._folding, self._folding_labels = None, []

    def _save_records(self) -> None:
        """Save the record buffers, one save at a time: their state taken here (copies, ~150 ms
        for a million events of 200k users), written by a thread while batches go on, then
        named by the log with the records it holds dropped. Without a running loop (tests),
        written at once."""
        if self._closing or (self._saving is not None and not self._saving.done()):
            return
        try:
            self._records.prune(time.time())
            mark, path = self._log.records_mark(), self._log.next_state_file()
            write = functools.partial(statefile.write, path, self._records.state())
        except Exception as exc:  # whatever it is: the buffers stay due, and /health says why
            self._save_failed(exc)
            return
        self._records_dirty = False
        self._records_saved = time.monotonic()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._save_in_thread(path, mark, write))
            return
        self._saving = loop.create_task(self._save_in_thread(path, mark, write))

    async def _save_in_thread(self, path: Path, mark: int, write: Callable[[], int]) -> None:
        started = time.perf_counter()
        try:
            size = await asyncio.get_running_loop().run_in_executor(None, write)
            self._log.switch_state(path, mark)
        except Exception as exc:  # whatever it is: the buffers stay due, and /health says why
            self._save_failed(exc)
            return
        self._saves.ok()
        self._last_save = {"bytes": size, "seconds": round(time.perf_counter() - started, 3)}

    def _save_failed(self, exc: Exception) -> None:
        self._records_dirty = True
        self._records_saved = -math.inf  # due again once the backoff has passed
        self._saves.failed(exc)

    async def _records_saved_now(self) -> None:
        """Save the record buffers as they are now, whatever the interval; StoreUnavailable
        when that fails."""
        if self._saving is not None:
            await self._saving  # taken before the caller's change
        self._save_records()
        if self._saving is not None:
            await self._saving
        if self._saves.failures:
            raise StoreUnavailable(f"the change could not be saved ({self._saves.last_error})")

    # Admin

    async def delete_series(self, request: wire.DeleteSeries) -> dict[str, int]:
        """Delete every counter and metric series a selector names, durably: a snapshot
        folds the log and drops the counters in one transaction, then the record buffers are
        saved without the series before the answer. Deleting again is harmless (a retry after
        ActorUnavailableError)."""
        self._keep_maintained()
        series, counters = select.to_delete(request.selectors, self._records.series, self._counts)
        if not counters and not series:
            return {"counters": 0, "series": 0}
        try:
            self._fold(deleted=sorted(counters))
        except LogError as exc:
            raise StoreUnavailable(f"the delete could not be saved ({exc}); retry it") from None
        # A deleted counter's history left in a saved state is never read (no such counter).
        self._records.history.delete(counters)
        if series:
            # Gone from memory first, so the state saved lacks them. Should the save fail, the
            # buffers stay marked changed and the upkeep's next save keeps the delete.
            self._records.series.delete_keys(series)
            self._records_dirty = True
            await self._records_saved_now()
        return {"counters": len(counters), "series": len(series)}

    # The direct path

    async def endpoint(self) -> tuple[str, int, str]:
        """Where the direct path for batches listens (server.py), and its secret. Handed out
        through Ray, so only a driver of this cluster learns it."""
        import ray  # only where a Ray runtime exists

        self._keep_maintained()
        if self._server is None:
            self._server = BatchServer(self.answer)
        host, port = await self._server.start(ray.util.get_node_ip_address())
        return host, port, self._server.secret

    async def close(self) -> None:
        """Stop listening, finish a save in flight and close the log (tests; Ray ends the
        process otherwise)."""
        self._closing = True  # no snapshot or save starts from now on
        if self._server is not None:
            await self._server.close()
        if self._maintainer is not None:
            self._maintainer.cancel()
        if self._folding is not None:  # the log keeps every row the fold had not deleted
            self._folding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._folding
        if self._saving is not None:
            await self._saving
        self._log.close()

    # Reads: one per wire.Read type. Those that depend on the time take the actor's clock, so
    # every node sees the same windows.

    async def read(self, query: wire.Read) -> Any:
        self._keep_maintained()
        records, now = self._records, time.time()
        match query:
            case wire.AllCounters():
                return self._counts_json()
            case wire.CounterValues(labels=labels):
                return {label: self._counts[label] for label in labels if label in self._counts}
            case wire.SeriesNames():
                return records.series.names()
            case wire.SeriesRange(name=name, resolution=resolution, start=start, end=end):
                return [
                    wire.Bucket(b, r.count, r.total, r.low, r.high)
                    for b, r in records.series.query(name, resolution, start, end)
                ]
            case wire.LatestHosts(limit=limit):
                return records.hosts.latest(limit)
            case wire.NewestHosts(limit=limit):
                return records.hosts.newest(limit)
            case wire.CounterChanges(epoch=epoch, seq=seq, limit=limit):
                counts = self._counts
                return self._changes.answer(
                    epoch, seq, limit, lambda labels: {k: counts.get(k) for k in set(labels)}
                )
            case wire.SamplesAdded(epoch=epoch, seq=seq, names=names, limit=limit):
                wanted = set(names)
                return self._added.answer(
                    epoch, seq, limit, lambda added: [s for s in added if s.name in wanted]
                )
            case wire.DistinctUsers(metric=metric, day=day):
                return records.events.distinct_users(metric, day)
            case wire.HourlyTotals(per_user=per_user):
                return await _json_in_chunks(records.events.hourly_chunks(now, per_user))
            case wire.FirstSeen(username=username):
                return records.events.first_seen(username)
            case wire.IntegerAverages(limit=limit):
                return records.integers.averages(now, limit)
            case wire.Scrape():
                latest = [
                    (s.name, s.labels, s.times[-1] / 1000, s.values[-1])
                    for s in records.series.every()
                    if s.times
                ]
                return self._counts_json(), latest
            case wire.Select():
                return wire.encode(select.select(query, self._sources(now)))
            case wire.LabelValues():
                samples, after = self._parts(now)
                view = self._counter_view(now)
                return wire.encode(select.label_values(query, samples, view, after))
        raise InvalidInput(f"no read named {type(query).__name__}")

    def _counts_json(self) -> bytes:
        if self._json is None:  # serialised once per change, not by every node
            self._json = orjson.dumps(self._counts)
        return self._json

    def _sources(self, now: float) -> list[select.Source]:
        """Where a query's series come from, the first holding a label set having it."""
        samples, after = self._parts(now)
        return [samples, select.counters_source(self._counter_view(now)), *after]

    def _parts(self, now: float) -> tuple[select.Source, list[select.Source]]:
        """The sources besides the counters: the one before them, and those after."""
        records = self._records
        return select.samples_source(records.series), [
            select.hosts_source(records.hosts.state),
            select.integers_source(functools.partial(records.integers.points, now)),
        ]

    def _counter_view(self, now: float) -> select.CounterView:
        history = self._records.history
        return select.CounterView(
            self._counts, history.points, round(now * 1000), history.has, history.labels
        )

    async def info(self) -> dict[str, Any]:
        return {**self._ray_context(), **self.describe()}

    def describe(self) -> dict[str, Any]:
        """What /health shows of the actor, without Ray's part."""
        return {
            "shard": self._shard,
            "epoch": self._epoch,
            "pid": os.getpid(),
            "counters": len(self._counts),
            "batches_applied": self._commits,
            "idempotency_keys": {
                "held": len(self._keys),
                "bytes": self._key_bytes,
                "max": self._max_keys,
                "max_bytes": self._max_key_bytes,
            },
            "snapshots": {**self._folds.shown(), "log_rows": self._log_rows},
            "record_saves": {
                **self._saves.shown(),
                "saving": self._saving is not None and not self._saving.done(),
                "last": self._last_save,
                "every_seconds": self._records_every,
            },
            "records": self._records.stats(),
            "started_at": self._started_at,
            "recovery": self._recovery,
        }

    @staticmethod
    def _ray_context() -> dict[str, Any]:
        import ray  # only where a Ray runtime exists

        context = ray.get_runtime_context()
        return {"node_id": context.get_node_id(), "actor_id": context.get_actor_id()}


class _Attempts:
    """A write retried in the background: its failures in a row, the last error, and the
    backoff before the next attempt (1 s, doubling, at most _RETRY_MAX)."""

    def __init__(self, what: str) -> None:
        self._what = what
        self.failures = 0
        self.last_error: str | None = None
        self._last_ok_at: float | None = None
        self._retry_at = 0.0  # monotonic

    def ready(self) -> bool:
        return time.monotonic() >= self._retry_at

    def failed(self, exc: Exception) -> None:
        self.failures += 1
        wait = min(_RETRY_MAX, 0.5 * 2**self.failures)
        self._retry_at = time.monotonic() + wait
        self.last_error = str(exc)
        log.error(
            "%s failed (%s); batches are still committed; retry in %g s", self._what, exc, wait
        )

    def ok(self) -> None:
        self.failures, self.last_error, self._retry_at = 0, None, 0.0
        self._last_ok_at = time.time()

    def shown(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "last_error": self.last_error,
            "last_ok_at": self._last_ok_at,
        }


def _record_limits(given: dict[str, Any]) -> RecordLimits:
    limits = dict(given)  # the caller's dict stays as it was
    retention = limits.pop("retention", None)
    if retention is not None:
        limits["retention"] = Retention(**retention)
    return RecordLimits(**limits)


async def _json_in_chunks(chunks: Iterator[list[Any] | None]) -> bytes:
    """A read's rows as one JSON array, letting the loop serve batches between its chunks
    (each encoded, then freed, at once): a 200,000-row answer built and encoded whole held the
    actor, and every write, for over a second. The collector waits meanwhile: the rows are
    young, acyclic and freed chunk by chunk, and collecting them paused the loop ~100 ms at a
    time (measured)."""
    collecting = gc.isenabled()
    gc.disable()
    parts = []
    try:
        for chunk in chunks:
            if chunk:
                parts.append(orjson.dumps(chunk)[1:-1])
            await asyncio.sleep(0)
    finally:
        if collecting:
            gc.enable()
    return b"[" + b",".join(parts) + b"]"


def _key_reused(key: str) -> Refused:
    return Refused(
        "key_reused",
        f"Idempotency-Key {key!r} was already used for a different request; "
        "use a new key for a new request",
    )


def _running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
