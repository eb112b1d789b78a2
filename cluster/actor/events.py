"""The event log: `{username, metric, count}` events, stamped by the server, counted per day
and kept raw for the last hour.

Pure Python, no Ray, no clock of its own (callers pass `now`), so it is tested directly.

- Last hour: every event as (ts, username, metric, count) in arrival order. Reads filter by
  `ts > now - hour_seconds` and never assume order (events may be replayed out of order);
  `prune(now)` is what forgets the older ones, so reads change nothing.
- Days: per metric and UTC day of the event's ts, the set of distinct users, the number of
  events and the sum of their counts. `prune(now)` folds days more than `daily_days` before
  `now`'s day: the user set is dropped and only its size is kept. An event replayed into a
  folded day still adds to its events and total; its user cannot be told new or not, so the
  distinct count stays as it was.
- Users: the earliest ts ever added per user, whatever order events arrive in.
- Limits: `refuse()` says whether a whole batch would cross `max_users` distinct users or
  `max_recent` events held for the last hour; `add()` trusts that it was asked first (the actor
  runs one call at a time, so nothing comes between them). `max_recent` counts what is held,
  so prune before asking.

Bugs of the Go original fixed here: its hourly GC cutoff was computed once at process start, so
nothing was ever deleted; its daily counter counted events, not distinct users; its merger of
old days never ran; `/hourly_logs` answered `null` when empty, where `hourly_*` return `[]`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cluster.common.errors import NotFound
from cluster.common.timeutil import day_of, parse_day, rfc3339

Event = tuple[float, str, str, int]  # (ts, username, metric, count), as held for the last hour
# A read over the last hour is done in steps of this many events (or rows), so that whoever
# drives it can let other work run between steps (the actor: batches on its event loop).
STEP = 5_000
Steps = Generator[None, None, list[dict[str, Any]]]


@dataclass(slots=True)
class Day:
    """One metric's counts on one UTC day; `users` is None once folded into `folded_users`."""

    users: set[str] | None = field(default_factory=set)
    folded_users: int = 0
    events: int = 0
    total: int = 0

    @property
    def distinct(self) -> int:
        return self.folded_users if self.users is None else len(self.users)


class EventLog:
    def __init__(
        self,
        hour_seconds: float = 3600.0,
        daily_days: int = 30,
        max_users: int = 1_000_000,
        max_recent: int = 1_000_000,
    ) -> None:
        self._hour = hour_seconds
        self._daily_days = daily_days
        self._max_users = max_users
        self._max_recent = max_recent
        self._recent: deque[Event] = deque()
        self._days: dict[str, dict[str, Day]] = {}  # metric -> day -> counts
        self._first_seen: dict[str, float] = {}
        self._folded_before = ""  # the day before which user sets were last folded

    def unknown_users(self, users: set[str]) -> set[str]:
        """Those of `users` never seen before."""
        return users - self._first_seen.keys()

    def refuse(self, new_users: int, events: int) -> str | None:
        """Why adding `events` events with `new_users` users never seen would cross a limit, or
        None. Changes nothing; a batch is taken whole or not at all."""
        if len(self._first_seen) + new_users > self._max_users:
            return (
                f"the log knows {len(self._first_seen)} users and this request names "
                f"{new_users} new ones; the limit is {self._max_users} distinct users"
            )
        if len(self._recent) + events > self._max_recent:
            return (
                f"the last-hour log holds {len(self._recent)} events and this request adds "
                f"{events}; the limit is {self._max_recent} events"
            )
        return None

    def add(self, username: str, metric: str, count: int, ts: float) -> None:
        self._recent.append((ts, username, metric, count))
        day = self._days.setdefault(metric, {}).setdefault(day_of(ts), Day())
        if day.users is not None:
            day.users.add(username)
        day.events += 1
        day.total += count
        seen = self._first_seen.get(username)
        if seen is None or ts < seen:
            self._first_seen[username] = ts

    def prune(self, now: float) -> None:
        """Forget last-hour events past the hour; fold the user sets of days past `daily_days`.
        Cheap enough to call for every batch: events arrive in about the order of their
        server-stamped times, so the old ones are at the left; the folding runs once a day."""
        cutoff = now - self._hour
        recent = self._recent
        while recent and recent[0][0] <= cutoff:
            recent.popleft()  # reads filter by time too, so one out of order does no harm
        # ISO days compare as strings in calendar order.
        oldest_kept = (parse_day(day_of(now)) - timedelta(days=self._daily_days)).isoformat()
        if oldest_kept == self._folded_before:
            return
        self._folded_before = oldest_kept
        for days in self._days.values():
            for name, day in days.items():
                if name < oldest_kept and day.users is not None:
                    day.folded_users, day.users = len(day.users), None

    def distinct_users(self, metric: str, day: str) -> dict[str, Any]:
        """Distinct users, events and the sum of counts of `metric` on the UTC `day`."""
        day = parse_day(day).isoformat()
        days = self._days.get(metric)
        if days is None:
            raise NotFound(f"no events for metric {metric!r}")
        counts = days.get(day) or Day()
        return {
            "metric": metric,
            "day": day,
            "distinct_users": counts.distinct,
            "events": counts.events,
            "total": counts.total,
        }

    def hourly_total(self, now: float) -> list[dict[str, Any]]:
        """Per metric, over the last hour: average, number, maximum and minimum of the counts."""
        return _run(self.hourly_steps(now, per_user=False))

    def hourly_per_user(self, now: float) -> list[dict[str, Any]]:
        """As `hourly_total`, per (metric, username)."""
        return _run(self.hourly_steps(now, per_user=True))

    def hourly_steps(self, now: float, per_user: bool) -> Steps:
        """`hourly_total` or `hourly_per_user` as a generator that pauses every STEP events or
        rows and returns the rows. It reads a copy of the events taken at its start, so what is
        added between steps is not seen and cannot disturb it."""
        if per_user:
            # One string per key, "metric NUL user": it sorts as the pair would (names hold no
            # control character) in a fifth of the time.
            return self._hourly(
                now,
                lambda user, metric: f"{metric}\x00{user}",
                lambda key: dict(zip(("metric", "username"), key.split("\x00", 1), strict=True)),
            )
        return self._hourly(now, lambda _user, metric: metric, lambda metric: metric)

    def _hourly(
        self,
        now: float,
        key_of: Callable[[str, str], Hashable],
        id_of: Callable[[Any], Any],
    ) -> Steps:
        cutoff = now - self._hour
        events = list(self._recent)  # tuples: a shallow copy is a consistent one
        groups: dict[Any, list[int]] = {}
        for start in range(0, len(events), STEP):
            for ts, user, metric, count in events[start : start + STEP]:
                if ts > cutoff:
                    groups.setdefault(key_of(user, metric), []).append(count)
            yield
        keys = sorted(groups)
        rows: list[dict[str, Any]] = []
        for start in range(0, len(keys), STEP):
            yield
            for key in keys[start : start + STEP]:
                counts = groups[key]
                rows.append(
                    {
                        "_id": id_of(key),
                        "average": sum(counts) / len(counts),
                        "count": len(counts),
                        "maximum": max(counts),
                        "minimum": min(counts),
                    }
                )
        return rows

    def first_seen(self, username: str) -> dict[str, Any]:
        ts = self._first_seen.get(username)
        if ts is None:
            raise NotFound(f"no user named {username!r}")
        return {"username": username, "first_seen": ts, "first_seen_at": rfc3339(ts)}

    def state(self) -> dict[str, Any]:
        """Everything, as JSON-ready values (sets as sorted lists); limits are not part of it."""
        return {
            "recent": [list(event) for event in self._recent],
            "days": {
                metric: {
                    name: {
                        "users": None if day.users is None else sorted(day.users),
                        "folded_users": day.folded_users,
                        "events": day.events,
                        "total": day.total,
                    }
                    for name, day in days.items()
                }
                for metric, days in self._days.items()
            },
            "first_seen": dict(self._first_seen),
        }

    def load(self, state: dict[str, Any]) -> None:
        """Replace everything with a `state()` taken earlier (limits stay this log's own)."""
        self._recent = deque(
            (ts, user, metric, count) for ts, user, metric, count in state["recent"]
        )
        self._days = {
            metric: {
                name: Day(
                    users=None if day["users"] is None else set(day["users"]),
                    folded_users=day["folded_users"],
                    events=day["events"],
                    total=day["total"],
                )
                for name, day in days.items()
            }
            for metric, days in state["days"].items()
        }
        self._first_seen = dict(state["first_seen"])
        self._folded_before = ""


def _run(steps: Steps) -> list[dict[str, Any]]:
    """Drive `steps` to the end without pausing."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
