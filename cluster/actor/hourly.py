"""The events of the last hour and their statistics, kept up to date as events come and go, so
that reading them costs in proportion to the rows answered, not to the events held.

Pure Python, no Ray, no clock of its own (callers pass `now`), so it is tested directly.

- Events are held in order of their ts (one arriving out of order is put in its place, found
  from the newest end: events are stamped by the nodes, so they arrive in about that order).
  `prune(now)` forgets those with `ts <= now - hour` from the oldest end; a read prunes first,
  so every answer covers exactly the events with `ts > now - hour`. An event already past the
  hour when it comes is not held.
- Statistics, per metric and per (metric, user): a `Window` with the number and the sum of the
  counts, and the minimum and maximum as monotonic queues. The queue of minima holds the
  events that are the smallest of all events after them (so its counts rise with ts); its head
  is the window's minimum, and it leaves when its event leaves the hour. An event arriving in
  order drops the queue's tail it beats; one out of order is placed by the same rule. Each
  event enters and leaves each queue at most once: O(1) per event, amortised, and exact. The
  chosen trade-off: a queue is a few entries for most keys (at worst as long as the key's
  events of the hour, for counts that only rise), where sorted multisets would keep every count
  and per-minute buckets would make the boundary minute a rescan.
- Reads are generators that pause every STEP events forgotten, and hand out their rows in
  chunks of STEP, so the actor serves batches in between and encodes (then frees) each chunk
  as it comes. A read that pauses answers as of the moment it starts its rows: a window changed
  meanwhile leaves its earlier values with the read (copy on write, `_Capture`), so events
  added or forgotten during the read do not show in it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import Any

Event = tuple[float, str, str, int]  # (ts, username, metric, count)
Values = tuple[int, int, int, int]  # count, total, minimum, maximum
# A read is done in steps of this many events (or rows), so that whoever drives it can let
# other work run between steps (the actor: batches on its event loop).
STEP = 5_000
Rows = list[dict[str, Any]]
Chunks = Generator[Rows | None, None, None]  # None: a pause without rows
_COMPACT = 32  # a queue's head may pass this many left entries before they are deleted


class Window:
    """The statistics of one key over the events held."""

    __slots__ = ("count", "total", "lows", "low_head", "highs", "high_head")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.lows: list[Event] = []  # counts rise along ts; entries before low_head are gone
        self.low_head = 0
        self.highs: list[Event] = []  # counts fall along ts
        self.high_head = 0

    def add(self, event: Event) -> None:
        ts, count = event[0], event[3]
        self.count += 1
        self.total += count
        # In order (the usual case): after the queue's tail, the key's newest event so far.
        lows, head = self.lows, self.low_head
        if len(lows) == head or lows[-1][0] <= ts:
            while len(lows) > head and lows[-1][3] >= count:
                lows.pop()
            lows.append(event)
        else:
            _place(lows, head, event, lowest=True)
        highs, head = self.highs, self.high_head
        if len(highs) == head or highs[-1][0] <= ts:
            while len(highs) > head and highs[-1][3] <= count:
                highs.pop()
            highs.append(event)
        else:
            _place(highs, head, event, lowest=False)

    def drop(self, event: Event) -> None:
        """Forget `event`, the oldest of this key's events (events leave in ts order, so an
        event in a queue is at its head when it leaves)."""
        self.count -= 1
        self.total -= event[3]
        if self.low_head < len(self.lows) and self.lows[self.low_head] is event:
            self.low_head = _advance(self.lows, self.low_head)
        if self.high_head < len(self.highs) and self.highs[self.high_head] is event:
            self.high_head = _advance(self.highs, self.high_head)

    def values(self) -> Values:
        return self.count, self.total, self.lows[self.low_head][3], self.highs[self.high_head][3]


def _place(queue: list[Event], head: int, event: Event, lowest: bool) -> None:
    """Put `event` in a monotonic queue after every entry of its ts or older, unless a later
    entry is as extreme (then it can never be the extreme); drop the entries before it that
    it is as extreme as (they leave before it)."""
    ts, count = event[0], event[3]
    end = len(queue)
    while end > head and queue[end - 1][0] > ts:
        end -= 1
    if end < len(queue) and _as_extreme(queue[end][3], count, lowest):
        return
    start = end
    while start > head and _as_extreme(count, queue[start - 1][3], lowest):
        start -= 1
    queue[start:end] = (event,)


def _as_extreme(count: int, other: int, lowest: bool) -> bool:
    return count <= other if lowest else count >= other


def _advance(queue: list[Event], head: int) -> int:
    head += 1
    if head > _COMPACT and 2 * head > len(queue):
        del queue[:head]
        return 0
    return head


class _Capture:
    """What a read in progress needs of the windows it has not built rows for yet: the values
    each window had when the read began, saved just before the window first changes."""

    __slots__ = ("table", "saved")

    def __init__(self, table: dict[str, Window]) -> None:
        self.table = table
        self.saved: dict[str, Values | None] = {}  # None: the window did not exist


class LastHour:
    def __init__(self, hour_seconds: float = 3600.0) -> None:
        self._hour = hour_seconds
        self._events: deque[Event] = deque()
        self._metrics: dict[str, Window] = {}
        self._users: dict[str, Window] = {}  # "metric NUL user" -> window (see `_user_key`)
        self._cutoff = -math.inf  # every event at or before it has been forgotten
        self._newest = -math.inf  # the newest ts ever added
        self._captures: list[_Capture] = []

    def __len__(self) -> int:
        return len(self._events)

    @property
    def keys(self) -> int:
        """Windows held per (metric, user)."""
        return len(self._users)

    def oldest(self, n: int) -> float:
        """The ts of the `n`-th oldest event held (1: the oldest)."""
        return self._events[n - 1][0]

    def add(self, event: Event) -> None:
        ts = event[0]
        if ts <= self._cutoff:
            return  # past the hour already
        events = self._events
        self._newest = max(self._newest, ts)
        if not events or events[-1][0] <= ts:
            events.append(event)
        else:
            place = len(events)
            for held in reversed(events):
                if held[0] <= ts:
                    break
                place -= 1
            events.insert(place, event)
        metric, user = event[2], f"{event[2]}\x00{event[1]}"  # see `_user_key`
        metrics, users = self._metrics, self._users
        if self._captures:
            self._save(metrics, metric, metrics.get(metric))
            self._save(users, user, users.get(user))
        window = metrics.get(metric)
        if window is None:
            window = metrics[metric] = Window()
        window.add(event)
        window = users.get(user)
        if window is None:
            window = users[user] = Window()
        window.add(event)

    def prune(self, now: float, budget: int | None = None) -> bool:
        """Forget the events with `ts <= now - hour`, at most `budget` of them; whether all of
        them went."""
        cutoff = now - self._hour
        events = self._events
        left = math.inf if budget is None else budget
        while events and events[0][0] <= cutoff:
            if left <= 0:
                return False
            left -= 1
            event = events.popleft()
            self._drop(self._metrics, event[2], event)
            self._drop(self._users, _user_key(event), event)
        # Never past the newest event held: after a `now` ahead of the clock (a jump the clock
        # then took back), events stamped by the clock are held again from the next one on.
        newest = events[-1][0] if events else self._newest
        self._cutoff = max(self._cutoff, min(cutoff, newest))
        return True

    def chunks(self, now: float, per_user: bool) -> Chunks:
        """The rows over the events with `ts > now - hour`, per metric or per (metric, user),
        sorted by them, in chunks of at most STEP rows; None between two steps of forgetting
        the events past the hour."""
        while not self.prune(now, STEP):
            yield None
        table = self._users if per_user else self._metrics
        capture = _Capture(table)
        self._captures.append(capture)
        try:
            keys = sorted(table)  # "metric NUL user" sorts as the pair would
            for start in range(0, len(keys), STEP):
                yield None  # the sort, or the chunk just handed out, took a step's time
                saved, rows = capture.saved, []
                for key in keys[start : start + STEP]:
                    values = saved.get(key) or table[key].values()
                    rows.append(_row(key.split("\x00", 1) if per_user else key, values))
                yield rows
        finally:
            self._captures.remove(capture)

    def state(self) -> list[Event]:
        return list(self._events)

    def load(self, events: list[list[Any]]) -> None:
        """Replace everything with the events of a `state()` (or older: in any order)."""
        self._events.clear()
        self._metrics, self._users = {}, {}
        self._cutoff = self._newest = -math.inf
        held = [(ts, user, metric, count) for ts, user, metric, count in events]
        held.sort(key=lambda event: event[0])  # stable: events of one ts keep their order
        for event in held:
            self.add(event)

    def _drop(self, table: dict[str, Window], key: str, event: Event) -> None:
        window = table[key]
        if self._captures:
            self._save(table, key, window)
        window.drop(event)
        if not window.count:
            del table[key]

    def _save(self, table: dict[str, Window], key: str, window: Window | None) -> None:
        for capture in self._captures:
            if capture.table is table and key not in capture.saved:
                capture.saved[key] = None if window is None else window.values()


def _user_key(event: Event) -> str:
    # One string, not a pair: it hashes and sorts in a fifth of the time (names hold no
    # control character, so NUL sorts the pair right).
    return f"{event[2]}\x00{event[1]}"


def _row(key: str | list[str], values: Values) -> dict[str, Any]:
    count, total, low, high = values
    return {
        "_id": key if isinstance(key, str) else {"metric": key[0], "username": key[1]},
        "average": total / count,
        "count": count,
        "maximum": high,
        "minimum": low,
    }
