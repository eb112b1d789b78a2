"""CounterStore: the one actor that holds every counter of the cluster.

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

This module does not import Ray at load time: unit tests drive the class directly.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cluster.storage import BatchId, Durability, Storage

MAX_VALUE = 2**63 - 1

# labels, increment, Idempotency-Key (or None)
Item = tuple[list[str], int, str | None]
# New value of each label of the item, in the item's order; or why it was refused:
# {"error": "limit" | "key_reused", "detail": "..."}.
ItemResult = list[int] | dict[str, str]


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
    ) -> None:
        started = time.perf_counter()
        self._storage = Storage(Path(db_path), durability)
        recovered = self._storage.load()
        self._counts = recovered.counts
        self._applied = recovered.applied
        self._keys = recovered.idempotency
        self._epoch = recovered.epoch
        self._recovery: dict[str, float] = {
            "counters": len(self._counts),
            "replayed_labels": len(recovered.replayed),
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
        # Folding the log costs more than replaying it: leave it to the usual threshold, so a
        # restart answers sooner. Only a log grown over several restarts is folded now.
        if self._log_rows >= self._snapshot_every:
            self._snapshot()
        self._recovery["seconds"] = round(time.perf_counter() - started, 4)

    async def apply(self, batch_id: BatchId, items: list[Item]) -> list[ItemResult]:
        return self.apply_now(batch_id, items)

    def apply_now(self, batch_id: BatchId, items: list[Item]) -> list[ItemResult]:
        batch_id = tuple(batch_id)  # Ray may hand a tuple back as a list
        if batch_id in self._applied:
            return [self._repeat(labels, key) for labels, _, key in items]
        now = time.time()
        stage = _Stage(self._counts, self._max_counters)
        answers: dict[str, tuple[Any, Any]] = {}
        results: list[ItemResult] = []
        for labels, increment, key in items:
            request = [labels, increment]
            earlier = None if key is None else (answers.get(key) or self._keys.get(key))
            if earlier is not None:
                results.append(earlier[1] if earlier[0] == request else _key_reused(key))
                continue
            result = stage.add(labels, increment)
            if key is not None and isinstance(result, list):
                answers[key] = (request, result)
            results.append(result)
        self._storage.commit(batch_id, stage.changes, answers, now)
        # Only now, with the batch on disk, does memory change: a failed write leaves no trace.
        self._counts.update(stage.changes)
        self._dirty.update(stage.changes)
        self._applied[batch_id] = now
        for key, (request, answer) in answers.items():
            self._keys[key] = (request, answer, now)
        self._log_rows += 1
        self._commits += 1
        if self._crash_after and self._commits >= self._crash_after:
            os._exit(17)
        if self._log_rows >= self._snapshot_every:
            self._snapshot()
        return results

    def _repeat(self, labels: list[str], key: str | None) -> ItemResult:
        if key is not None and key in self._keys:
            return self._keys[key][1]
        return [self._counts.get(label, 0) for label in labels]

    def _snapshot(self) -> None:
        now = time.time()
        self._storage.snapshot(
            {label: self._counts[label] for label in self._dirty},
            forget_before=now - self._dedup_window,
            keys_before=now - self._idempotency_window,
        )
        self._dirty.clear()
        self._log_rows = 0
        self._applied = {b: t for b, t in self._applied.items() if t >= now - self._dedup_window}
        cutoff = now - self._idempotency_window
        self._keys = {k: v for k, v in self._keys.items() if v[2] >= cutoff}

    async def read(self, labels: list[str] | None = None) -> dict[str, int]:
        """All counters, or those of `labels` that exist."""
        if labels is None:
            return dict(self._counts)
        return {label: self._counts[label] for label in labels if label in self._counts}

    async def info(self) -> dict[str, Any]:
        import ray  # only where a Ray runtime exists

        context = ray.get_runtime_context()
        return {
            "epoch": self._epoch,
            "pid": os.getpid(),
            "node_id": context.get_node_id(),
            "actor_id": context.get_actor_id(),
            "counters": len(self._counts),
            "started_at": self._started_at,
            "recovery": self._recovery,
        }


class _Stage:
    """A batch's changes before they are committed; checks limits across the whole batch."""

    def __init__(self, counts: dict[str, int], max_counters: int) -> None:
        self._counts = counts
        self._max = max_counters
        self._new = 0
        self.changes: dict[str, int] = {}

    def add(self, labels: list[str], increment: int) -> ItemResult:
        # A label listed twice is incremented twice, as in the original counter.
        adds = Counter(labels)
        current = {label: self.changes.get(label, self._counts.get(label)) for label in adds}
        new = sum(1 for value in current.values() if value is None)
        if len(self._counts) + self._new + new > self._max:
            return {
                "error": "limit",
                "detail": f"the cluster holds {len(self._counts) + self._new} counters and this "
                f"request would add {new} more; the limit is {self._max}",
            }
        for label, times in adds.items():
            if (current[label] or 0) + increment * times > MAX_VALUE:
                return {"error": "limit", "detail": f"counter {label!r} would exceed {MAX_VALUE}"}
        self._new += new
        for label, times in adds.items():
            self.changes[label] = (current[label] or 0) + increment * times
        return [self.changes[label] for label in labels]


def _key_reused(key: str) -> dict[str, str]:
    return {
        "error": "key_reused",
        "detail": f"Idempotency-Key {key!r} was already used for a different request; "
        "use a new key for a new request",
    }
