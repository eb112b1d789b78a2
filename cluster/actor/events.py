"""The event log: `{username, metric, count}` events, stamped by the server, counted per day
and kept raw for the last hour.

Pure Python, no Ray, no clock of its own (callers pass `now`), so it is tested directly.

- Last hour: every event as (ts, username, metric, count), with the statistics the hourly
  reads answer kept up to date as events come and go (hourly.py). A read answers over the
  events with `ts > now - hour_seconds`, forgetting the older ones first.
- Days: per metric and UTC day of the event's ts, the set of distinct users, the number of
  events and the sum of their counts. `prune(now)` folds days more than `daily_days` before
  `now`'s day: the user set is dropped and only its size is kept. An event replayed into a
  folded day still adds to its events and total; its user cannot be told new or not, so the
  distinct count stays as it was.
- Days are kept `days_kept` days (None: for ever), and at most `max_days` Day entries over all
  metrics (checked at each day's turn: the oldest days go whole, today's never), so the
  history does not grow for ever; a metric whose days are all gone is forgotten.
- Users: the earliest ts ever added per user, whatever order events arrive in. A user with no
  event for `user_idle` seconds (events are stamped by the server, so their ts is when they
  came) is forgotten by `expire_users(now)`: should it come back, it is a new user.
- Limits: `refuse()` says whether a whole batch would cross `max_users` distinct users or
  `max_recent` events held for the last hour; `add()` trusts that it was asked first (the actor
  runs one call at a time, so nothing comes between them). `max_recent` counts what is held,
  so prune before asking. The refusal says when room frees up: a full last hour is a rate
  limit (the request may succeed once the oldest events are an hour old: "busy", 429), too many
  users waits for idle ones to expire ("limit", 409).

Bugs of the Go original fixed here: its hourly GC cutoff was computed once at process start, so
nothing was ever deleted; its daily counter counted events, not distinct users; its merger of
old days never ran; `/hourly_logs` answered `null` when empty, where `hourly_*` return `[]`.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import Any

from cluster.actor.hourly import Chunks, Event, LastHour
from cluster.common.errors import NotFound
from cluster.common.timeutil import day_of, parse_day, rfc3339
from cluster.common.wire import MAX_VALUE, Refused

__all__ = ["Day", "Event", "EventLog"]


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
        user_idle: float | None = None,
        days_kept: int | None = None,
        max_days: int = 5_000_000,
    ) -> None:
        self._hour = hour_seconds
        self._daily_days = daily_days
        self._max_users = max_users
        self._max_recent = max_recent
        self._user_idle = user_idle
        self._days_kept = days_kept
        self._max_days = max_days
        self._recent = LastHour(hour_seconds)
        self._days: dict[str, dict[str, Day]] = {}  # metric -> day -> counts
        self._day_count = 0  # Day entries over all metrics
        self._first_seen: dict[str, float] = {}
        # Every user's newest event ts, in the order those arrived: the idle ones come first.
        # (An OrderedDict: removing from the front of a plain dict slows every later scan.)
        self._last_seen: OrderedDict[str, float] = OrderedDict()
        self._folded_before = ""  # the day before which user sets were last folded

    def unknown_users(self, users: set[str]) -> set[str]:
        """Those of `users` never seen before."""
        return users - self._first_seen.keys()

    def refuse(self, new_users: int, events: int, now: float) -> Refused | None:
        """Why adding `events` events with `new_users` users never seen would cross a limit,
        and when it could succeed, or None. Changes nothing; a batch is taken whole or not at
        all."""
        users = len(self._first_seen)
        if users + new_users > self._max_users:
            detail = (
                f"the log knows {users} users and this request names {new_users} new ones; "
                f"the limit is {self._max_users} distinct users"
            )
            excess = users + new_users - self._max_users
            last = next(islice(self._last_seen.values(), excess - 1, None), None)
            if self._user_idle and excess <= users and last is not None:
                free = max(last + self._user_idle, now)
                detail += f"; users idle for {self._user_idle:g} s are forgotten: " + _when(
                    free, now
                )
            return Refused("limit", detail)
        held = len(self._recent)
        if held + events > self._max_recent:
            detail = (
                f"the last-hour log holds {held} events and this request adds {events}; "
                f"the limit is {self._max_recent} events"
            )
            if events > self._max_recent:
                return Refused("limit", detail + ": send them in smaller requests")
            # The held events leave an hour after their ts, oldest first.
            free = max(self._recent.oldest(held + events - self._max_recent) + self._hour, now)
            return Refused("busy", f"{detail}; the room it needs frees up " + _when(free, now))
        return None

    def add(self, username: str, metric: str, count: int, ts: float) -> None:
        event: Event = (ts, username, metric, count)
        self._recent.add(event)
        days = self._days.setdefault(metric, {})
        name = day_of(ts)
        day = days.get(name)
        if day is None:
            day = days[name] = Day()
            self._day_count += 1
        if day.users is not None:
            day.users.add(username)
        day.events += 1
        day.total += count
        seen = self._first_seen.get(username)
        if seen is None or ts < seen:
            self._first_seen[username] = ts
        last = self._last_seen.get(username)
        if last is None or ts >= last:
            self._last_seen[username] = ts
            self._last_seen.move_to_end(username)

    def prune(self, now: float, budget: int | None = None) -> bool:
        """Forget last-hour events past the hour (at most `budget` of them: whether all went);
        fold the user sets of days past `daily_days`. Cheap enough to call for every batch with
        a budget: the folding runs once a day."""
        done = self._recent.prune(now, budget)
        # ISO days compare as strings in calendar order.
        oldest_kept = (parse_day(day_of(now)) - timedelta(days=self._daily_days)).isoformat()
        if oldest_kept == self._folded_before:
            return done
        self._folded_before = oldest_kept
        for days in self._days.values():
            for name, day in days.items():
                if name < oldest_kept and day.users is not None:
                    day.folded_users, day.users = len(day.users), None
        if self._days_kept is not None:
            self._forget_days(parse_day(day_of(now)) - timedelta(days=self._days_kept - 1))
        if self._day_count > self._max_days:
            self._forget_oldest_days(day_of(now))
        return done

    def _forget_oldest_days(self, today: str) -> None:
        """Forget whole days before `today`, oldest first, until at most `max_days` entries
        are left (today's and later ones, from a node's clock ahead, always stay)."""
        per_day = Counter(name for days in self._days.values() for name in days)
        left, last_dropped = self._day_count, None
        for name in sorted(per_day):
            if left <= self._max_days or name >= today:
                break
            left -= per_day[name]
            last_dropped = name
        if last_dropped is not None:
            self._forget_days(parse_day(last_dropped) + timedelta(days=1))

    def _forget_days(self, first_kept: Any) -> None:
        """Drop every day before `first_kept` (a date), and the metrics left without one."""
        first = first_kept.isoformat()
        for metric in list(self._days):
            days = self._days[metric]
            for name in [name for name in days if name < first]:
                del days[name]
                self._day_count -= 1
            if not days:
                del self._days[metric]

    def expire_users(self, now: float, keep: set[str] | frozenset[str] = frozenset()) -> int:
        """Forget the users without an event for `user_idle` seconds, but those in `keep` (a
        batch's requests already accepted, not yet applied); how many went."""
        if not self._user_idle:
            return 0
        cutoff = now - self._user_idle
        order, gone, kept = self._last_seen, 0, []
        while order:
            user, last = order.popitem(last=False)
            if last > cutoff:
                order[user] = last
                order.move_to_end(user, last=False)
                break
            if user in keep:
                kept.append((user, last))
                continue
            del self._first_seen[user]
            gone += 1
        for user, last in reversed(kept):
            order[user] = last
            order.move_to_end(user, last=False)
        return gone

    def stats(self) -> dict[str, Any]:
        """What the log holds against its bounds (for /health)."""
        return {
            "recent_events": len(self._recent),
            "hourly_user_keys": self._recent.keys,
            "max_recent_events": self._max_recent,
            "users": len(self._first_seen),
            "max_users": self._max_users,
            "user_idle_seconds": self._user_idle,
            "metrics": len(self._days),
            "days": self._day_count,
            "days_kept": self._days_kept,
            "max_days": self._max_days,
        }

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
        return _collect(self.hourly_chunks(now, per_user=False))

    def hourly_per_user(self, now: float) -> list[dict[str, Any]]:
        """As `hourly_total`, per (metric, username)."""
        return _collect(self.hourly_chunks(now, per_user=True))

    def hourly_chunks(self, now: float, per_user: bool) -> Chunks:
        """`hourly_total` or `hourly_per_user` in chunks of rows, with pauses (hourly.py): the
        rows are as of when the first chunk is made."""
        return self._recent.chunks(now, per_user)

    def first_seen(self, username: str) -> dict[str, Any]:
        ts = self._first_seen.get(username)
        if ts is None:
            raise NotFound(f"no user named {username!r}")
        return {"username": username, "first_seen": ts, "first_seen_at": rfc3339(ts)}

    def state(self) -> dict[str, Any]:
        """Everything, as copies a thread may encode while the log changes (statefile.py; sets
        stay sets there, a tenth of a sort's time); limits are not part of it."""
        return {
            "recent": self._recent.state(),
            "days": {
                metric: {
                    name: {
                        "users": None if day.users is None else set(day.users),
                        "folded_users": day.folded_users,
                        "events": day.events,
                        # A string past 64 bits (JSON libraries refuse such integers); only
                        # counts deleted and posted again can add up that far.
                        "total": day.total if day.total <= MAX_VALUE else str(day.total),
                    }
                    for name, day in days.items()
                }
                for metric, days in self._days.items()
            },
            "first_seen": dict(self._first_seen),
            "last_seen": list(self._last_seen.items()),  # a list: its order matters
        }

    def load(self, state: dict[str, Any]) -> None:
        """Replace everything with a `state()` taken earlier (limits stay this log's own). A
        state saved before users could expire lacks `last_seen`: its users count as seen at
        the newest event it holds."""
        self._recent.load(state["recent"])
        self._days = {
            metric: {
                name: Day(
                    users=None if day["users"] is None else set(day["users"]),
                    folded_users=day["folded_users"],
                    events=day["events"],
                    total=int(day["total"]),
                )
                for name, day in days.items()
            }
            for metric, days in state["days"].items()
        }
        self._day_count = sum(len(days) for days in self._days.values())
        self._first_seen = dict(state["first_seen"])
        if "last_seen" in state:
            self._last_seen = OrderedDict((user, ts) for user, ts in state["last_seen"])
        else:
            newest = max(
                (ts for ts, *_ in state["recent"]),
                default=max(self._first_seen.values(), default=0),
            )
            self._last_seen = OrderedDict.fromkeys(self._first_seen, newest)
        self._folded_before = ""


def _when(at: float, now: float) -> str:
    return f"at {rfc3339(at)} (in {max(1, round(at - now))} s)"


def _collect(chunks: Chunks) -> list[dict[str, Any]]:
    """Every row of `chunks`, without pausing."""
    return [row for chunk in chunks if chunk for row in chunk]
