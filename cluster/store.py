"""CounterStore: the one actor that holds every counter of the cluster, and the record buffers
(metric samples, host rows, events, integers: cluster/records.py).

Contract (what a caller may rely on):
- Durable when acknowledged: `apply` returns only after the batch is committed to the SQLite
  store (cluster/storage.py), in one transaction with its batch id. A restart (`__init__` runs
  again) restores everything committed before answering anything, and bumps `epoch`.
- Atomic: a batch is applied without awaiting in between, so no call sees half of it. An item
  that would cross a limit (too many distinct counters, a value above 2**63-1) or reuses an
  Idempotency-Key for another request is refused alone, with a reason, and changes nothing.
- Retries are safe: a batch id seen within `dedup_window` seconds is not applied again; its
  items are answered with their labels' current values. Callers retry with the same id after
  `ActorUnavailableError`, when they cannot know whether the call ran. An item with an
  Idempotency-Key seen within `idempotency_window` gets the key's first answer.
- Records follow the same rules: an item's records and its increments are applied together or
  refused together, committed in the batch's transaction, replayed at recovery.

This module does not import Ray at load time: unit tests drive the class directly.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

import orjson

from cluster.datapath import BatchServer
from cluster.records import Pending, Record, RecordLimits, Records
from cluster.series import Retention
from cluster.staging import Pair, Refusal, Stage, Values, totals
from cluster.storage import BatchId, Durability, Storage

# One request (all or nothing): its increments, its Idempotency-Key, its records.
Item = tuple[list[Pair], str | None, list[Record]]
ItemResult = Values | Refusal


class CounterStore:
    def __init__(
        self,
        db_path: str,
        durability: Durability = "process",
        max_counters: int = 1_000_000,
        dedup_window: float = 300.0,
        idempotency_window: float = 600.0,
        snapshot_every: int = 1000,
        crash_after_commits: int = 0,
        record_limits: dict[str, Any] | None = None,
        records_snapshot_seconds: float = 60.0,
    ) -> None:
        started = time.perf_counter()
        self._storage = Storage(Path(db_path), durability)
        recovered = self._storage.load()
        self._records = Records(_record_limits(record_limits or {}))
        self._records.load(recovered.state)
        self._records.apply(recovered.records)
        self._records_dirty = bool(recovered.records)
        # The record buffers are saved whole (events of the last hour, rollups...): at most this
        # often, so a busy actor does not stall on it every `snapshot_every` batches. Until
        # then their records stay in the log, replayed at recovery.
        self._records_every = records_snapshot_seconds
        self._records_saved = time.monotonic()
        self._counts = recovered.counts
        self._applied = recovered.applied
        # Refusals of recent batches, for their retries (in memory: after a restart a retried
        # batch that had a refused item gets current values for it).
        self._refused: dict[BatchId, tuple[Refusal | None, dict[int, Refusal]]] = {}
        self._keys = recovered.idempotency
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
        self._server: BatchServer | None = None
        # Folding the log costs more than replaying it: leave it to the usual threshold, so a
        # restart answers sooner. Only a log grown over several restarts is folded now.
        if self._log_rows >= self._snapshot_every:
            self._snapshot()
        self._recovery["seconds"] = round(time.perf_counter() - started, 4)
        # Long-lived objects (Ray's, the recovered state) out of the collector's way: a full
        # collection over them stalls every caller (see api/app.py).
        gc.collect()
        gc.freeze()

    async def apply(
        self, batch_id: BatchId, merged: dict[str, int], items: list[Item]
    ) -> tuple[Values | Refusal, list[ItemResult]]:
        return self.apply_now(batch_id, merged, items)

    def apply_now(
        self, batch_id: BatchId, merged: dict[str, int], items: list[Item]
    ) -> tuple[Values | Refusal, list[ItemResult]]:
        """Apply `items` one by one (each all or nothing), then the `merged` increments of
        requests without a key (all or nothing together); one commit for the whole batch."""
        batch_id = tuple(batch_id)  # Ray may hand a tuple back as a list
        if batch_id in self._applied:
            merged_refusal, refusals = self._refused.get(batch_id, (None, {}))
            current = merged_refusal or {label: self._counts.get(label, 0) for label in merged}
            return current, [
                refusals.get(i) or self._repeat(pairs, key)
                for i, (pairs, key, _) in enumerate(items)
            ]
        now = time.time()
        stage = Stage(self._counts, self._max_counters)
        answers: dict[str, tuple[Any, Any]] = {}
        results: list[ItemResult] = []
        accepted: list[Record] = []
        pending = Pending()
        for pairs, key, records in items:
            request = _canonical(pairs, records)
            earlier = None if key is None else (answers.get(key) or self._keys.get(key))
            if earlier is not None:
                results.append(earlier[1] if earlier[0] == request else _key_reused(key))
                continue
            adds = self._records.refuse(records, now, pending) if records else None
            result = adds if isinstance(adds, tuple) else stage.add(totals(pairs))
            if isinstance(result, dict):
                if adds is not None:
                    pending.update(adds)
                accepted.extend(records)
                if key is not None:
                    answers[key] = (request, result)
            results.append(result)
        merged_result = stage.add(merged)
        self._storage.commit(batch_id, stage.changes, answers, now, accepted)
        # Only now, with the batch on disk, does memory change: a failed write leaves no trace.
        self._applied[batch_id] = now
        self._records.apply(accepted)
        self._records_dirty = self._records_dirty or bool(accepted)
        self._counts.update(stage.changes)
        self._dirty.update(stage.changes)
        if stage.changes:
            self._json = None
        refusals = {i: r for i, r in enumerate(results) if isinstance(r, tuple)}
        if refusals or isinstance(merged_result, tuple):
            # A retry of this batch must be refused again, not answered with current values.
            refused = merged_result if isinstance(merged_result, tuple) else None
            self._refused[batch_id] = (refused, refusals)
        for key, (request, answer) in answers.items():
            self._keys[key] = (request, answer, now)
        self._log_rows += 1
        self._commits += 1
        if self._crash_after and self._commits >= self._crash_after:
            os._exit(17)
        if self._log_rows >= self._snapshot_every:
            self._snapshot()
        return merged_result, results

    def _repeat(self, pairs: list[Pair], key: str | None) -> ItemResult:
        if key is not None and key in self._keys:
            return self._keys[key][1]
        return {label: self._counts.get(label, 0) for label in totals(pairs)}

    def _snapshot(self) -> None:
        now = time.time()
        state = None
        if self._records_dirty and time.monotonic() - self._records_saved >= self._records_every:
            self._records.prune(now)
            state = self._records.state()
        self._storage.snapshot(
            {label: self._counts[label] for label in self._dirty},
            forget_before=now - self._dedup_window,
            keys_before=now - self._idempotency_window,
            state=state,
        )
        if state is not None:
            self._records_dirty = False
            self._records_saved = time.monotonic()
        self._dirty.clear()
        self._log_rows = 0
        self._applied = {b: t for b, t in self._applied.items() if t >= now - self._dedup_window}
        self._refused = {b: r for b, r in self._refused.items() if b in self._applied}
        cutoff = now - self._idempotency_window
        self._keys = {k: v for k, v in self._keys.items() if v[2] >= cutoff}

    async def endpoint(self) -> tuple[str, int, str]:
        """Where the direct path for batches listens (cluster/datapath.py), and its secret.
        Handed out through Ray, so only a driver of this cluster learns it."""
        import ray  # only where a Ray runtime exists

        if self._server is None:
            self._server = BatchServer(self.apply_now)
        host, port = await self._server.start(ray.util.get_node_ip_address())
        return host, port, self._server.secret

    async def read(self, labels: list[str]) -> dict[str, int]:
        """Those of `labels` that exist."""
        return {label: self._counts[label] for label in labels if label in self._counts}

    async def view(self, name: str, *args: Any) -> Any:
        """A read of the record buffers (cluster/records.py names them). Reads that depend on
        the time get the actor's clock, so every node sees the same windows."""
        return self._records.view(name, time.time(), *args)

    async def read_json(self) -> bytes:
        """Every counter as a JSON object, ready to send: serialised here once per change
        instead of pickled, unpickled and serialised again by every node."""
        if self._json is None:
            self._json = orjson.dumps(self._counts)
        return self._json

    async def info(self) -> dict[str, Any]:
        import ray  # only where a Ray runtime exists

        context = ray.get_runtime_context()
        return {
            "epoch": self._epoch,
            "pid": os.getpid(),
            "node_id": context.get_node_id(),
            "actor_id": context.get_actor_id(),
            "counters": len(self._counts),
            "batches_applied": self._commits,
            "started_at": self._started_at,
            "recovery": self._recovery,
        }


def _canonical(pairs: list[Pair], records: list[Record]) -> list[list[Any]]:
    """A request as stored with its Idempotency-Key (JSON has no tuples). The time of an event
    or an integer may be stamped by the server, so a retry differs there: it is not part of
    the request."""
    return [[list(labels), increment] for labels, increment in pairs] + [
        r[:-1] if r[0] in "ei" else list(r) for r in records
    ]


def _record_limits(given: dict[str, Any]) -> RecordLimits:
    retention = given.pop("retention", None)
    if retention is not None:
        given["retention"] = Retention(**retention)
    return RecordLimits(**given)


def _key_reused(key: str) -> Refusal:
    return (
        "key_reused",
        f"Idempotency-Key {key!r} was already used for a different request; "
        "use a new key for a new request",
    )
