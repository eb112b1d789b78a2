"""CounterStore: the one actor that holds every counter of the cluster.

Contract (what a caller may rely on):
- `apply(batch_id, items)` applies every acceptable item of a batch without awaiting in between,
  so no other call sees half a batch. An item that would cross a limit (too many distinct counters,
  a value above 2**63-1) is refused alone, with a reason, and changes nothing.
- Retries are safe: a batch id seen within the last `dedup_window` batches is answered with the
  results of its first application and applied no second time. Callers retry with the same id
  after `ActorUnavailableError`, when they cannot know whether the call ran.
- Durability: state lives in this process's memory only. An actor restart starts empty with a
  higher `epoch`, so readers can tell. (The durable log is the next step; `apply` is its seam.)

This module does not import Ray at load time: unit tests drive the class directly.
"""

from __future__ import annotations

import os
import time
from collections import Counter, OrderedDict
from typing import Any

MAX_VALUE = 2**63 - 1

BatchId = tuple[str, int]
Item = tuple[list[str], int]
# New value of each label of the item, in the item's order; or the reason it was refused.
ItemResult = list[int] | str


class CounterStore:
    def __init__(self, max_counters: int = 1_000_000, dedup_window: int = 10_000) -> None:
        self._counts: dict[str, int] = {}
        self._applied: OrderedDict[BatchId, list[ItemResult]] = OrderedDict()
        self._max_counters = max_counters
        self._dedup_window = dedup_window
        self._epoch = 1
        self._started_at = time.time()

    async def apply(self, batch_id: BatchId, items: list[Item]) -> list[ItemResult]:
        return self.apply_now(batch_id, items)

    def apply_now(self, batch_id: BatchId, items: list[Item]) -> list[ItemResult]:
        batch_id = tuple(batch_id)  # Ray may hand a tuple back as a list
        done = self._applied.get(batch_id)
        if done is not None:
            return done
        results = [self._apply_item(labels, increment) for labels, increment in items]
        self._applied[batch_id] = results
        if len(self._applied) > self._dedup_window:
            self._applied.popitem(last=False)
        return results

    def _apply_item(self, labels: list[str], increment: int) -> ItemResult:
        counts = self._counts
        # A label listed twice is incremented twice, as in the original counter.
        adds = Counter(labels)
        new = [label for label in adds if label not in counts]
        if len(counts) + len(new) > self._max_counters:
            return (
                f"the cluster holds {len(counts)} counters and this request would add "
                f"{len(new)} more; the limit is {self._max_counters}"
            )
        for label, times in adds.items():
            if counts.get(label, 0) + increment * times > MAX_VALUE:
                return f"counter {label!r} would exceed {MAX_VALUE}"
        for label, times in adds.items():
            counts[label] = counts.get(label, 0) + increment * times
        return [counts[label] for label in labels]

    async def read(self, labels: list[str] | None = None) -> dict[str, int]:
        """All counters, or those of `labels` that exist."""
        if labels is None:
            return dict(self._counts)
        return {label: self._counts[label] for label in labels if label in self._counts}

    async def info(self) -> dict[str, Any]:
        import ray  # only where a Ray runtime exists

        return {
            "epoch": self._epoch,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "actor_id": ray.get_runtime_context().get_actor_id(),
            "counters": len(self._counts),
            "started_at": self._started_at,
        }
