"""Counter history: what PromQL's `rate(a[5m])` and range queries read of a counter.

A counter's value only changes when a batch commits, so the history stores changes, not
points: at each tick of `interval` seconds (the grid of the Unix epoch) the counters noted as
changed since the last tick get (tick, value) if their value differs from the one last stored.
`points()` then gives what a scrape every `interval` would have seen: a point at every tick
from the counter's first stored change to the newest tick, each with the value as of that
tick. Stored as changes, 10,000 counters changing every 10 s cost 16 bytes a change
(two int64 arrays), not a point per counter per tick whether it changed or not.

- At most `max_counters` counters have a history; a counter noted when there is no room has
  none (instant values only) and is counted in `untracked` until a delete frees room.
- Changes older than `retention` go, but the newest before the cutoff stays (it gives the
  value from the cutoff on); no point older than the cutoff is given.
- A tick the upkeep missed (the actor busy) is not invented: the next tick stores the value
  then, and the ticks in between carry the value before.

Pure Python, no clock of its own: the actor passes `now`.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from cluster.actor import statefile


class _Changes:
    __slots__ = ("times", "values")

    def __init__(self, times: Iterable[int] = (), values: Iterable[int] = ()) -> None:
        self.times = array("q", times)
        self.values = array("q", values)


class CounterHistory:
    def __init__(
        self, interval: float = 10.0, retention: float = 3600.0, max_counters: int = 10_000
    ) -> None:
        self._interval_ms = max(1, round(interval * 1000))
        self._retention_ms = round(retention * 1000)
        self._max = max_counters
        self._held: dict[str, _Changes] = {}
        self._noted: set[str] = set()
        self._untracked: set[str] = set()
        self.ticked_ms = -math.inf  # the newest tick stored
        self._floor_ms = -math.inf  # no point before it (retention)

    def note(self, labels: Iterable[str]) -> None:
        """These counters changed (called on every commit: a set update, nothing more)."""
        self._noted.update(labels)

    def tick(self, now: float, counts: Mapping[str, int]) -> bool:
        """Store the noted counters' values at the newest tick, once a tick; whether anything
        was stored."""
        tick = int(now * 1000) // self._interval_ms * self._interval_ms
        if tick <= self.ticked_ms:
            return False
        stored = False
        for label in self._noted:
            value = counts.get(label)
            if value is None:
                continue
            held = self._held.get(label)
            if held is None:
                if len(self._held) >= self._max:
                    if len(self._untracked) < self._max:
                        self._untracked.add(label)
                    continue
                held = self._held[label] = _Changes()
                self._untracked.discard(label)
            if not held.values or held.values[-1] != value:
                held.times.append(tick)
                held.values.append(value)
                stored = True
        self._noted.clear()
        self.ticked_ms = tick
        self.prune(now)  # once a tick: ~10-20 ms with the tick for 10,000 counters (measured)
        return stored

    def points(self, label: str, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """A point a tick in [start_ms, end_ms], from the first change to the newest tick."""
        first, last = self._ticks(label, start_ms, end_ms)
        if first > last:
            return []
        held = self._held[label]
        step = self._interval_ms
        points = []
        at = bisect.bisect_right(held.times, first) - 1
        t = first
        while t <= last:
            while at + 1 < len(held.times) and held.times[at + 1] <= t:
                at += 1
            points.append((t, held.values[at]))
            t += step
        return points

    def has(self, label: str, start_ms: int, end_ms: int) -> bool:
        """Whether `points` would give any, without building them."""
        first, last = self._ticks(label, start_ms, end_ms)
        return first <= last

    def _ticks(self, label: str, start_ms: int, end_ms: int) -> tuple[int, float]:
        """The first and last tick `points` gives (first > last: none)."""
        held = self._held.get(label)
        if held is None or not held.times:
            return 1, 0
        low = max(start_ms, held.times[0], self._floor_ms)
        first = -(-int(low) // self._interval_ms) * self._interval_ms  # the first at or after
        return first, min(end_ms, self.ticked_ms)

    def labels(self) -> list[str]:
        """The counters that have a history."""
        return list(self._held)

    def delete(self, labels: Iterable[str]) -> None:
        for label in labels:
            self._held.pop(label, None)
            self._noted.discard(label)
            self._untracked.discard(label)

    def prune(self, now: float) -> None:
        cutoff = int(now * 1000) - self._retention_ms
        self._floor_ms = cutoff
        for held in self._held.values():
            keep = bisect.bisect_right(held.times, cutoff) - 1  # the value at the cutoff
            if keep > 0:
                del held.times[:keep]
                del held.values[:keep]

    def stats(self) -> dict[str, Any]:
        """For /health."""
        return {
            "interval_seconds": self._interval_ms / 1000,
            "retention_seconds": self._retention_ms / 1000,
            "counters": len(self._held),
            "max_counters": self._max,
            "untracked": len(self._untracked),
            "changes": sum(len(held.times) for held in self._held.values()),
        }

    def state(self) -> dict[str, Any]:
        """Copies, for a thread to encode while the history goes on: the arrays themselves
        (~30 ms for 3.6M changes; their lists would take ~300 ms of the actor's loop)."""
        return {
            "ticked_ms": self.ticked_ms if math.isfinite(self.ticked_ms) else None,
            "floor_ms": self._floor_ms if math.isfinite(self._floor_ms) else None,
            "counters": {
                label: [held.times[:], held.values[:]] for label, held in self._held.items()
            },
        }

    def load(self, state: dict[str, Any]) -> None:
        ticked = state.get("ticked_ms")
        self.ticked_ms = -math.inf if ticked is None else ticked
        self._held = {
            label: _Changes(statefile.unpack(times), statefile.unpack(values))
            for label, (times, values) in state.get("counters", {}).items()
        }
        floor = state.get("floor_ms")
        self._floor_ms = -math.inf if floor is None else floor
        # A counter may have changed after the state was saved (its batches replayed from the
        # log): the first tick stores its value then, instead of the saved one going on.
        self._noted = set(self._held)
