"""Integer windows: generators publish integers; each tumbling window of event time keeps the
average of the integers stamped within it.

Pure Python, no Ray, no clock of its own (callers pass `now`), so it is tested directly.

- Windows: [k * window, (k + 1) * window) of the sample's own ts, aligned to the Unix epoch. A
  window is closed once `start + window + grace <= now`; only closed windows are read, newest
  first, each as its exact average (a float of sum / count) stamped with the window's end.
  Windows without samples do not exist.
- Late samples: `refuse()` names a sample whose window is closed; `add()` trusts that it was
  asked first with the same `now` (the actor runs one call at a time). That is what keeps ids
  stable: no window can appear before one that was already visible.
- Ids: 1, 2, 3... in window order over all windows ever held; `prune(now)` drops the oldest
  closed windows beyond `keep` and counts them, so ids are never reused or shifted.
- Duplicates: a sample with a generator and a seq is recorded once; a resend (an NSQ
  redelivery) gets None from `refuse()` and False from `add()`, even after its window closed,
  for as long as its window is held. A sample without a generator or a seq is never a duplicate.
  At most `max_seen` of those records are kept: past it `prune()` forgets the records of the
  oldest closed windows first, down to nine tenths of it (a resend into one of them is then
  refused as late instead of accepted and ignored; its window's average stays right either
  way). The records of open
  windows are never forgotten, since a duplicate there would be counted twice: they are bounded
  by what arrives within `window + grace` seconds.

Bugs of the Go original fixed here: it truncated values to one byte and averaged with integer
(truncating) division; it windowed by arrival time, not event time; it counted NSQ redeliveries
again.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from cluster.common.errors import InvalidInput
from cluster.common.timeutil import rfc3339

Key = tuple[str, int]  # (generator, seq)


@dataclass(slots=True)
class Window:
    total: int = 0
    count: int = 0
    seen: int = 0  # duplicate records (generator, seq) pointing at this window


class IntegerWindows:
    def __init__(
        self, window: float = 5.0, grace: float = 1.0, keep: int = 1000, max_seen: int = 1_000_000
    ) -> None:
        self._window = window
        self._grace = grace
        self._keep = keep
        self._max_seen = max_seen
        self._windows: dict[int, Window] = {}  # window index k -> sums; start is k * window
        self._order: list[int] = []  # the indexes of `_windows`, ascending
        self._seen: dict[Key, int] = {}  # recorded (generator, seq) -> its window index
        self._dropped = 0  # windows pruned so far; the first held window's id is this + 1
        self._floor: int | None = None  # indexes at or below this were pruned

    def refuse(self, generator: str | None, seq: int | None, ts: float, now: float) -> str | None:
        """Why the sample may not be added (its window is closed), or None; changes nothing."""
        index = self._index(ts)
        key = _key(generator, seq)
        if key is not None and key in self._seen:
            return None  # a resend: accepted, and add() ignores it
        start = index * self._window
        late = now - (start + self._window + self._grace)
        if late >= 0:
            return (
                f"sample at {rfc3339(ts)} is late: its window [{rfc3339(start)}, "
                f"{rfc3339(start + self._window)}) closed {late:.3f} s ago "
                f"(after a grace of {self._grace:g} s)"
            )
        return None

    def add(self, generator: str | None, seq: int | None, value: int, ts: float) -> bool:
        """Record a sample; False, changing nothing, for a duplicate or a pruned window."""
        index = self._index(ts)
        key = _key(generator, seq)
        if key is not None and key in self._seen:
            return False
        if self._floor is not None and index <= self._floor:
            return False  # recreating a pruned window would shift every later id
        window = self._windows.get(index)
        if window is None:
            window = self._windows[index] = Window()
            bisect.insort(self._order, index)
        window.total += value
        window.count += 1
        if key is not None:
            self._seen[key] = index
            window.seen += 1
        return True

    def averages(self, now: float, limit: int = 10) -> list[dict[str, Any]]:
        """Closed windows, newest first, at most `limit`."""
        if limit < 0:
            raise InvalidInput(f"limit {limit} is negative")
        rows: list[dict[str, Any]] = []
        # Closed windows are a prefix of `_order`: walk back past the open ones at the end.
        for position in range(len(self._order) - 1, -1, -1):
            if len(rows) >= limit:
                break
            index = self._order[position]
            if self._closed(index, now):
                rows.append(self._row(position, index))
        return rows

    def points(self, now: float) -> list[tuple[float, float]]:
        """Every closed window as (its end, its average), oldest first."""
        return [
            (k * self._window + self._window, self._windows[k].total / self._windows[k].count)
            for k in self._order
            if self._closed(k, now)
        ]

    def last(self, now: float) -> dict[str, Any] | None:
        rows = self.averages(now, limit=1)
        return rows[0] if rows else None

    def prune(self, now: float) -> None:
        """Drop the oldest closed windows beyond `keep`, with their duplicate records, then the
        records of the oldest closed windows past `max_seen`."""
        excess = len(self._order) - self._keep
        drop = [k for k in self._order[: max(excess, 0)] if self._closed(k, now)]
        if drop:
            for index in drop:
                del self._windows[index]
            del self._order[: len(drop)]
            self._dropped += len(drop)
            self._floor = drop[-1]
            self._seen = {key: k for key, k in self._seen.items() if k > drop[-1]}
        self._bound_seen(now)

    def _bound_seen(self, now: float) -> None:
        if len(self._seen) <= self._max_seen:
            return
        # Down to nine tenths, so that the next passes do not rebuild the map each time.
        excess = len(self._seen) - (self._max_seen - self._max_seen // 10)
        cut = None  # forget the records of the windows up to this index
        for index in self._order:
            window = self._windows[index]
            if excess <= 0 or not self._closed(index, now):
                break
            if window.seen:
                excess -= window.seen
                window.seen = 0
                cut = index
        if cut is not None:
            self._seen = {key: k for key, k in self._seen.items() if k > cut}

    def stats(self) -> dict[str, Any]:
        """What the windows hold against their bounds (for /health)."""
        return {
            "windows": len(self._order),
            "windows_kept": self._keep,
            "windows_dropped": self._dropped,
            "duplicate_records": len(self._seen),
            "max_duplicate_records": self._max_seen,
        }

    def state(self) -> dict[str, Any]:
        """Everything, as copies a thread may encode while the windows change (statefile.py);
        sums as decimal strings, since they may outgrow the 64-bit integers JSON libraries such
        as orjson accept. Limits are not part of it."""
        return {
            "windows": [
                [k, str(self._windows[k].total), self._windows[k].count] for k in self._order
            ],
            "seen": list(self._seen.items()),  # ((generator, seq), window): no row built
            "dropped": self._dropped,
            "floor": self._floor,
        }

    def load(self, state: dict[str, Any]) -> None:
        """Replace everything with a `state()` taken earlier (limits stay these windows' own)."""
        self._windows = {k: Window(int(total), count) for k, total, count in state["windows"]}
        self._order = sorted(self._windows)
        # Saved as ((generator, seq), window) pairs; before, as [generator, seq, window].
        self._seen = {
            (row[0][0], row[0][1]) if len(row) == 2 else (row[0], row[1]): row[-1]
            for row in state["seen"]
        }
        for k in self._seen.values():
            if (window := self._windows.get(k)) is not None:
                window.seen += 1
        self._dropped = state["dropped"]
        self._floor = state["floor"]

    def _index(self, ts: float) -> int:
        if not math.isfinite(ts):
            raise InvalidInput(f"timestamp {ts!r} is not a finite number")
        return math.floor(ts / self._window)

    def _closed(self, index: int, now: float) -> bool:
        return index * self._window + self._window + self._grace <= now

    def _row(self, position: int, index: int) -> dict[str, Any]:
        window = self._windows[index]
        return {
            "id": self._dropped + position + 1,
            "integer": window.total / window.count,
            "created_at": rfc3339(index * self._window + self._window),
        }


def _key(generator: str | None, seq: int | None) -> Key | None:
    return None if generator is None or seq is None else (generator, seq)
