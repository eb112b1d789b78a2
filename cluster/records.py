"""Everything the actor holds besides counters: metric samples, host rows, events, integers.

Writes arrive as records, plain JSON lists that travel through Ray and into the store's log:
- `["s", name, timestamp, value]`               a metric sample (cluster/series.py)
- `["h", host, cpu, memory, disk, timestamp]`   a host row (cluster/hosts.py)
- `["e", username, metric, count, timestamp]`   an event (cluster/events.py); its counter
                                                 increment travels as an ordinary increment
- `["i", generator, seq, integer, timestamp]`   an integer for the 5 s averages
                                                 (cluster/integers.py)
Timestamps are Unix seconds. The API validated each field; `refuse` checks what only the state
can tell (limits, lateness) before anything changes, so a request is applied whole or not at all.

Pure Python: the actor (cluster/store.py) calls it and persists records and `state()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.events import EventLog
from cluster.hosts import HostLog
from cluster.integers import IntegerWindows
from cluster.series import Retention, SeriesBuffer

Record = list[Any]
PARTS = ("series", "hosts", "events", "integers")  # each has state() and load()
# view name -> (part, method): what the actor's `view` may call.
# Those marked True depend on the time and take `now` first.
_VIEWS: dict[str, tuple[str, str, bool]] = {
    "series_names": ("series", "names", False),
    "series_query": ("self", "_series_query", False),
    "hosts_latest": ("hosts", "latest", False),
    "distinct_users": ("events", "distinct_users", False),
    "hourly_total": ("events", "hourly_total", True),
    "hourly_per_user": ("events", "hourly_per_user", True),
    "first_seen": ("events", "first_seen", False),
    "integer_averages": ("integers", "averages", True),
    "integer_last": ("integers", "last", True),
}


@dataclass
class Pending:
    """What the accepted items of a batch add, before the batch is applied."""

    names: set[str] = field(default_factory=set)  # new series
    users: set[str] = field(default_factory=set)  # new event users
    events: int = 0

    def update(self, adds: Pending) -> None:
        self.names |= adds.names
        self.users |= adds.users
        self.events += adds.events


@dataclass(frozen=True)
class RecordLimits:
    """Bounds and windows of the record buffers (from config.py; defaults as there)."""

    retention: Retention = field(default_factory=Retention)
    max_series: int = 1000
    max_host_rows: int = 100_000
    max_users: int = 1_000_000
    max_recent_events: int = 1_000_000
    exact_user_days: int = 2
    integer_window: float = 5.0
    integer_grace: float = 1.0
    integer_windows_kept: int = 1000


class Records:
    def __init__(self, limits: RecordLimits | None = None) -> None:
        limits = limits or RecordLimits()
        self.series = SeriesBuffer(limits.retention, limits.max_series)
        self.hosts = HostLog(limits.max_host_rows)
        self.events = EventLog(
            max_users=limits.max_users,
            max_recent=limits.max_recent_events,
            daily_days=limits.exact_user_days,
        )
        self.integers = IntegerWindows(
            limits.integer_window, limits.integer_grace, limits.integer_windows_kept
        )

    def refuse(
        self, records: list[Record], now: float, pending: Pending
    ) -> tuple[str, str] | Pending:
        """Why `records` cannot be applied together (kind "limit" or "late", a sentence), or,
        if they can, what they add to `pending` (what the batch's items before them add), so
        that limits hold across a batch at a cost in proportion to each item."""
        adds = Pending()
        names = {r[1] for r in records if r[0] == "s"}
        if names:
            adds.names = self.series.unknown(names) - pending.names
            if reason := self.series.refuse(len(pending.names) + len(adds.names)):
                return ("limit", reason)
        users = {r[1] for r in records if r[0] == "e"}
        if users:
            self.events.prune(now)  # the recent-events bound counts only the last hour
            adds.users = self.events.unknown_users(users) - pending.users
            adds.events = sum(r[0] == "e" for r in records)
            new_users, events = len(pending.users) + len(adds.users), pending.events + adds.events
            if reason := self.events.refuse(new_users, events):
                return ("limit", reason)
        for r in records:
            if r[0] == "i" and (reason := self.integers.refuse(r[1], r[2], r[4], now)):
                return ("late", reason)
        return adds

    def apply(self, records: list[Record]) -> None:
        for r in records:
            kind = r[0]
            if kind == "s":
                self.series.add(r[1], r[2], r[3])
            elif kind == "h":
                self.hosts.add(*r[1:])
            elif kind == "e":
                self.events.add(*r[1:])
            elif kind == "i":
                self.integers.add(*r[1:])

    def prune(self, now: float) -> None:
        self.series.prune()
        self.events.prune(now)
        self.integers.prune(now)

    def view(self, name: str, now: float, *args: Any) -> Any:
        """A read by name (the actor exposes one method for all of them); `now` for the reads
        that depend on the time."""
        if name not in _VIEWS:
            raise ValueError(f"no view named {name!r}")
        part, method, timed = _VIEWS[name]
        read = getattr(self if part == "self" else getattr(self, part), method)
        return read(now, *args) if timed else read(*args)

    def state(self) -> dict[str, Any]:
        return {part: getattr(self, part).state() for part in PARTS}

    def load(self, state: dict[str, Any]) -> None:
        """Restore parts saved by `state()`; a part not saved stays empty."""
        for part in PARTS:
            if part in state:
                getattr(self, part).load(state[part])

    def _series_query(self, name: str, resolution: str, start: float, end: float) -> list[Any]:
        return [
            [bucket, r.count, r.total, r.low, r.high]
            for bucket, r in self.series.query(name, resolution, start, end)
        ]
