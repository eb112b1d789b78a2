"""Everything the actor holds besides counters: metric samples, host rows, events, integers.

Writes arrive as records (cluster/common/wire.py: Sample, HostRow, Event, IntegerSample), the
same structs that travel from the nodes and into the log. The API validated each field;
`refuse` checks what only the state can tell (limits, lateness) before anything changes, so a
request is applied whole or not at all.

Pure Python: the actor calls it and persists records and `state()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.actor.events import EventLog
from cluster.actor.history import CounterHistory
from cluster.actor.hosts import HostLog
from cluster.actor.integers import IntegerWindows
from cluster.actor.series import Retention, SeriesBuffer
from cluster.common.wire import Event, HostRow, IntegerSample, Record, Refused, Sample

PARTS = ("series", "hosts", "events", "integers", "history")  # each has state(), load() and stats()
_PRUNE_STEP = 20_000  # last-hour events a request may forget (~10 ms)


@dataclass
class Pending:
    """What the accepted requests of a batch add, before the batch is applied."""

    names: set[str] = field(default_factory=set)  # new series (their keys)
    users: set[str] = field(default_factory=set)  # new event users
    events: int = 0
    # Every series and user named, new or not: expiring one of them mid-batch would let the
    # batch's records bring it back past the limits.
    series_named: set[str] = field(default_factory=set)
    users_named: set[str] = field(default_factory=set)

    def update(self, adds: Pending) -> None:
        self.names |= adds.names
        self.users |= adds.users
        self.events += adds.events
        self.series_named |= adds.series_named
        self.users_named |= adds.users_named


@dataclass(frozen=True)
class RecordLimits:
    """Bounds and windows of the record buffers (from the settings; defaults as there)."""

    retention: Retention = field(default_factory=Retention)
    max_series: int = 1000
    max_host_rows: int = 100_000
    max_users: int = 1_000_000
    max_recent_events: int = 1_000_000
    exact_user_days: int = 2
    integer_window: float = 5.0
    integer_grace: float = 1.0
    integer_windows_kept: int = 1000
    # None: never expire, kept for ever.
    series_idle_seconds: float | None = None
    max_buckets_per_series: int = 20_000
    user_idle_seconds: float | None = None
    event_days_kept: int | None = None
    max_event_days: int = 5_000_000
    integer_duplicates_kept: int = 1_000_000
    counter_history_interval: float = 10.0
    max_counter_history: int = 10_000
    counter_history_seconds: float = 3600.0


class Records:
    def __init__(self, limits: RecordLimits | None = None) -> None:
        limits = limits or RecordLimits()
        self.series = SeriesBuffer(
            limits.retention,
            limits.max_series,
            limits.series_idle_seconds,
            limits.max_buckets_per_series,
        )
        self.hosts = HostLog(limits.max_host_rows)
        self.events = EventLog(
            max_users=limits.max_users,
            max_recent=limits.max_recent_events,
            daily_days=limits.exact_user_days,
            user_idle=limits.user_idle_seconds,
            days_kept=limits.event_days_kept,
            max_days=limits.max_event_days,
        )
        self.integers = IntegerWindows(
            limits.integer_window,
            limits.integer_grace,
            limits.integer_windows_kept,
            limits.integer_duplicates_kept,
        )
        # The counters' history (the counters are the actor's): saved with the buffers.
        self.history = CounterHistory(
            limits.counter_history_interval,
            limits.counter_history_seconds,
            limits.max_counter_history,
        )

    def check(self, records: list[Record], now: float, pending: Pending) -> Refused | Pending:
        """Whether `records` can be applied together after what the batch's earlier requests
        add (`pending`): a refusal, or what they would add in turn. Limits thus hold across a
        batch at a cost in proportion to each request. A limit about to refuse first expires
        what has been idle long enough (but what this batch names)."""
        adds = Pending()
        names = {r.key for r in records if isinstance(r, Sample)}
        if names:
            adds.series_named = names
            adds.names = self.series.unknown(names) - pending.names
            if self.series.refuse(len(pending.names) + len(adds.names)) and self.series.expire(
                now, pending.series_named | names
            ):
                adds.names = self.series.unknown(names) - pending.names
            if reason := self.series.refuse(len(pending.names) + len(adds.names)):
                return Refused("limit", reason)
        events = [r for r in records if isinstance(r, Event)]
        if events:
            # The recent-events bound counts only the last hour. A bounded step, so that a
            # request after an idle hour does not forget a million events at once: when it
            # leaves some and the bound would refuse, the rest go too before deciding.
            pruned = self.events.prune(now, _PRUNE_STEP)
            users = adds.users_named = {e.username for e in events}
            adds.users = self.events.unknown_users(users) - pending.users
            adds.events = len(events)
            count = pending.events + adds.events
            refused = self.events.refuse(len(pending.users) + len(adds.users), count, now)
            if refused and not pruned:
                self.events.prune(now)
                refused = self.events.refuse(len(pending.users) + len(adds.users), count, now)
            if refused and self.events.expire_users(now, pending.users_named | users):
                adds.users = self.events.unknown_users(users) - pending.users
                refused = self.events.refuse(len(pending.users) + len(adds.users), count, now)
            if refused:
                return refused
        for r in records:
            if isinstance(r, IntegerSample) and (
                reason := self.integers.refuse(r.generator, r.seq, r.ts, now)
            ):
                return Refused("late", reason)
        return adds

    def apply(self, records: list[Record]) -> None:
        for r in records:
            if isinstance(r, Sample):
                self.series.add(r.name, r.ts, r.value, r.labels)
            elif isinstance(r, HostRow):
                self.hosts.add(r.host, r.cpu, r.memory, r.disk, r.ts)
            elif isinstance(r, Event):
                self.events.add(r.username, r.metric, r.count, r.ts)
            else:
                self.integers.add(r.generator, r.seq, r.value, r.ts)

    def prune(self, now: float) -> None:
        """Forget what is past its retention, bound or idle time (between batches)."""
        self.series.prune(now)
        self.events.prune(now, _PRUNE_STEP)  # the rest go with the next requests or reads
        self.events.expire_users(now)
        self.integers.prune(now)

    def stats(self) -> dict[str, Any]:
        """Each buffer's size against its bounds, for /health."""
        return {part: getattr(self, part).stats() for part in PARTS}

    def state(self) -> dict[str, Any]:
        return {part: getattr(self, part).state() for part in PARTS}

    def load(self, state: dict[str, Any]) -> None:
        """Restore parts saved by `state()`; a part not saved stays empty."""
        for part in PARTS:
            if part in state:
                getattr(self, part).load(state[part])
