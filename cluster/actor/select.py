"""One query's read (wire.Select): every series its spans select, from every part the actor
holds, taken in one call so that a query never mixes two states.

What the actor holds, as series (docs/query.md says the same for users):
- samples: the series of their name and labels, with their raw points;
- counters: `{__name__="<label>"}`, a point every history tick (history.py) and the current
  value at the present;
- host rows: `host_cpu_usage{id="<host>"}`, `host_memory_usage{...}`, `host_disk_usage{...}`;
- integer averages: `integer_average`, a point at the end of each closed window.

A label set is one series: where two parts hold the same one (a counter and a sample without
labels of the same name), the part first in that list has it and the others are not seen.

Cost: a Select first counts the series each selector would look at (all of a part, or only
those of one name when the selector says `__name__="..."`) against a budget, and is refused
before scanning past it, so one query cannot hold the actor however many selectors it has;
identical selectors are looked up once. A read of labels only (`points=False`) asks each series
whether it has a point in its spans, without reading them.

Times: in whole milliseconds, as Prometheus keeps them; samples are stored so (series.py),
host rows and integer windows are truncated when read, the last of a millisecond kept.

Pure Python: the actor passes its parts and its clock.
"""

from __future__ import annotations

import bisect
import functools
import sys
from array import array
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from cluster.actor.series import Series, SeriesBuffer, columns
from cluster.common import wire
from cluster.common.wire import series_key
from cluster.query.errors import Limits, QueryError
from cluster.query.matchers import Matcher, MatchOp, RegexError, matches_all

Named = tuple[tuple[str, str], ...]  # a series' labels with __name__, sorted
HOST_SERIES = {"host_cpu_usage": 1, "host_memory_usage": 2, "host_disk_usage": 3}
_LIMITS = Limits()
# The current value of a counter is stamped at the present; a span that ends a little before it
# (the node's clock read first) still takes it, at its end.
_CLOCK_SLACK_MS = 1000


Columns = tuple[array, array]  # times in ms ('q'), strictly increasing, and values ('d')


class Points(Protocol):
    """One series' points, read between two times in milliseconds, both included."""

    def points(self, start_ms: int, end_ms: int) -> Columns: ...

    def has(self, start_ms: int, end_ms: int) -> bool: ...


class Budget:
    """How many series one Select may look at, over all its selectors and parts. Spent before
    a scan, so a query that would hold the actor is refused before it does."""

    def __init__(self, limit: int = _LIMITS.max_examined) -> None:
        self._limit = limit
        self._left = limit

    def spend(self, count: int) -> None:
        self._left -= count
        if self._left < 0:
            raise QueryError(
                f"query would look at more than {self._limit:,} series; select fewer series "
                'per selector or name the metric (__name__="...")',
                error_type="execution",
            )


Source = Callable[[list[Matcher], Budget], Iterator[tuple[Named, Points]]]


def matchers_of(raw: list[tuple[str, str, str]]) -> list[Matcher]:
    try:
        return [
            Matcher.create(name, MatchOp(op), value, _LIMITS.max_regex_length)
            for name, op, value in raw
        ]
    except (ValueError, RegexError) as exc:
        raise QueryError(str(exc)) from None


def select(
    query: wire.Select, sources: list[Source], budget: Budget | None = None
) -> list[wire.SeriesData]:
    """The series of every span, each with its points in the spans that selected it."""
    budget = budget or Budget()
    scanned: dict[tuple[tuple[str, str, str], ...], list[tuple[Named, Points]]] = {}
    chosen: dict[Named, tuple[Points, list[tuple[int, int]]]] = {}
    for span in query.spans:
        key = tuple(tuple(m) for m in span.matchers)
        if key not in scanned:
            scanned[key] = list(_scan(matchers_of(span.matchers), sources, budget))
        for labels, points in scanned[key]:
            chosen.setdefault(labels, (points, []))[1].append((span.start_ms, span.end_ms))
        if len(chosen) > query.max_series:
            raise QueryError(
                f"query touches more than {query.max_series:,} series", error_type="execution"
            )
    found, total = [], 0
    for labels, (points, spans) in chosen.items():  # in no order: the node sorts (its CPU)
        merged = _merged(spans)
        if not query.points:
            if any(points.has(start, end) for start, end in merged):
                found.append(wire.SeriesData(list(labels), b"", b""))
            continue
        times, values = points.points(*merged[0])
        for start, end in merged[1:]:
            more_times, more_values = points.points(start, end)
            times += more_times
            values += more_values
        if not times:
            continue
        total += len(times)
        if total > query.max_points:
            raise QueryError(
                f"query processing would read more than {query.max_points:,} samples",
                error_type="execution",
            )
        found.append(wire.SeriesData.of(list(labels), times, values))
    return found


def _scan(
    matchers: list[Matcher], sources: list[Source], budget: Budget
) -> Iterator[tuple[Named, Points]]:
    """What one selector selects; a label set two parts hold is the first part's."""
    seen: set[Named] = set()
    for source in sources:
        for labels, points in source(matchers, budget):
            if labels not in seen:
                seen.add(labels)
                yield labels, points


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans as disjoint ones, in order: reading each gives increasing times."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _name_equal(matchers: list[Matcher]) -> str | None:
    """The name an `__name__="..."` matcher asks for: the one candidate to look up."""
    for m in matchers:
        if m.name == "__name__" and m.op is MatchOp.EQUAL:
            return m.value
    return None


def _name_only(matchers: list[Matcher]) -> bool:
    """Whether a series whose only label is its name can match: every other matcher must
    accept the empty value (an absent label's)."""
    return matches_all([m for m in matchers if m.name != "__name__"], {})


class Raw:
    """Points held as columns: times in ms, strictly increasing, and their values."""

    def __init__(self, times: array, values: array) -> None:
        self._times = times
        self._values = values

    @classmethod
    def of_seconds(cls, held: list[tuple[float, float]]) -> Raw:
        """From (unix seconds, value) pairs sorted by time; one a millisecond, the last."""
        return cls(*columns(held))

    def points(self, start_ms: int, end_ms: int) -> Columns:
        low = bisect.bisect_left(self._times, start_ms)
        high = bisect.bisect_right(self._times, end_ms, lo=low)
        return self._times[low:high], self._values[low:high]

    def has(self, start_ms: int, end_ms: int) -> bool:
        at = bisect.bisect_left(self._times, start_ms)
        return at < len(self._times) and self._times[at] <= end_ms


def samples_source(buffer: SeriesBuffer) -> Source:
    """The sample series of a SeriesBuffer (series.py), with their raw points."""

    def source(matchers: list[Matcher], budget: Budget) -> Iterator[tuple[Named, Points]]:
        for labels, series in _samples(buffer, matchers, budget):
            yield labels, Raw(series.times, series.values)

    return source


def _samples(
    buffer: SeriesBuffer, matchers: list[Matcher], budget: Budget
) -> Iterator[tuple[Named, Series]]:
    name, by_name = _name_equal(matchers), _of_name(matchers)
    rest = [m for m in matchers if m.name != "__name__"]  # when the name is matched already
    if name is not None:
        candidates = buffer.named(name) if matches_all(by_name, {"__name__": name}) else []
    elif by_name:  # the names first (a look at each), then the series of those that match
        names = buffer.names()
        budget.spend(len(names))
        candidates = [
            s for n in names if matches_all(by_name, {"__name__": n}) for s in buffer.named(n)
        ]
    else:
        candidates, rest = buffer.every(), matchers
    budget.spend(len(candidates))
    for series in candidates:
        if not rest or matches_all(rest, dict(series.named)):
            yield series.named, series


def _counters(counts: Mapping[str, int], matchers: list[Matcher], budget: Budget) -> list[str]:
    if not _name_only(matchers):
        return []
    name = _name_equal(matchers)
    if name is not None:  # a lookup, not a pass over a million counters
        return [name] if name in counts and matches_all(matchers, {"__name__": name}) else []
    budget.spend(len(counts))
    return [label for label in counts if matches_all(matchers, {"__name__": label})]


def to_delete(
    selectors: list[list[tuple[str, str, str]]],
    buffer: SeriesBuffer,
    counts: Mapping[str, int],
    budget: Budget | None = None,
) -> tuple[set[str], set[str]]:
    """The sample series (their keys) and the counters that the admin's selectors select. Not
    bounded by a query's budget unless given one: the delete is how an admin frees a full
    store, which is when there are the most to look at."""
    budget = budget or Budget(sys.maxsize)
    keys: set[str] = set()
    labels: set[str] = set()
    for raw in selectors:
        matchers = matchers_of(raw)
        keys |= {series_key(s.name, s.labels) for _, s in _samples(buffer, matchers, budget)}
        labels |= set(_counters(counts, matchers, budget))
    return keys, labels


@dataclass(frozen=True)
class CounterView:
    counts: Mapping[str, int]
    history: Callable[[str, int, int], list[tuple[int, int]]]  # CounterHistory.points
    now_ms: int
    has_history: Callable[[str, int, int], bool] = lambda *_: False  # CounterHistory.has
    tracked: Callable[[], list[str]] = list  # CounterHistory.labels

    def now_in(self, start_ms: int, end_ms: int) -> int | None:
        """When a span takes the counters' current values (None: it does not)."""
        if end_ms < self.now_ms - _CLOCK_SLACK_MS:
            return None
        at = min(self.now_ms, end_ms)
        return at if at >= start_ms else None

    def in_span(self, start_ms: int, end_ms: int, budget: Budget) -> Collection[str]:
        """The counters with a point in the span: all of them when it takes the present (no
        look at each), else those whose history has one."""
        if self.now_in(start_ms, end_ms) is not None:
            return self.counts.keys()
        tracked = self.tracked()
        budget.spend(len(tracked))
        return {
            label
            for label in tracked
            if label in self.counts and self.has_history(label, start_ms, end_ms)
        }


class _Counter:
    """A counter's history ticks, and its current value at the present."""

    def __init__(self, view: CounterView, label: str) -> None:
        self._view = view
        self._label = label

    def _now(self, start_ms: int, end_ms: int) -> int | None:
        """When the span takes the current value (None: it does not)."""
        at = self._view.now_in(start_ms, end_ms)
        return at if at is not None and self._label in self._view.counts else None

    def points(self, start_ms: int, end_ms: int) -> Columns:
        view, label = self._view, self._label
        read = view.history(label, start_ms, end_ms)
        at = self._now(start_ms, end_ms)
        if at is not None:
            read = [p for p in read if p[0] < at]
            read.append((at, view.counts[label]))
        return array("q", [t for t, _ in read]), array("d", [v for _, v in read])

    def has(self, start_ms: int, end_ms: int) -> bool:
        now = self._now(start_ms, end_ms) is not None
        return now or self._view.has_history(self._label, start_ms, end_ms)


def counters_source(view: CounterView) -> Source:
    def source(matchers: list[Matcher], budget: Budget) -> Iterator[tuple[Named, Points]]:
        for label in _counters(view.counts, matchers, budget):
            yield (("__name__", label),), _Counter(view, label)

    return source


def label_values(
    query: wire.LabelValues,
    samples: Source,
    counters: CounterView,
    after: list[Source],
    budget: Budget | None = None,
) -> list[str]:
    """A label read over every series (no match[]; Grafana's metric browser asks it), as a
    Select of every series would find them (`samples`, then the counters, then the parts
    `after`, the first holding a label set having it), but the counters taken in bulk: they
    may be millions, and their only label is their name. Each value once, in no order."""
    budget = budget or Budget()
    start, end, name = query.start_ms, query.end_ms, query.name
    found: set[str] = set()
    shadowed: set[str] = set()  # counters whose label set a sample series has
    seen: set[Named] = set()
    for part, source in enumerate([samples, *after]):
        for labels, points in source([], budget):
            only_name = labels[0][1] if len(labels) == 1 else None
            if labels in seen or (part and only_name in counters.counts):
                continue  # an earlier part's
            seen.add(labels)
            if only_name is not None and not part:
                shadowed.add(only_name)
            if points.has(start, end):
                found.update(k if name is None else v for k, v in labels if name in (None, k))
    if name not in (None, "__name__"):
        return list(found)
    in_span = counters.in_span(start, end, budget)
    if name is None:
        if any(label not in shadowed for label in in_span):
            found.add("__name__")
        return list(found)
    decided = shadowed - found  # the sample series without a point in the span
    # No set of a million labels: a list (a copy in C) in the counters' order, which sorts
    # ~9x faster on the node than a set's (measured); the other parts' values not among them.
    counted = list(in_span) if not decided else [c for c in in_span if c not in decided]
    return [value for value in found if value not in in_span] + counted


def hosts_source(rows: Callable[[], list[tuple[str, float, float, float, float]]]) -> Source:
    """Host rows (hosts.py) as three series per host; `rows` gives them all, any order."""

    @functools.cache  # once per Select, however many of its selectors ask
    def by_host() -> dict[str, list[tuple[str, float, float, float, float]]]:
        grouped: dict[str, list[tuple[str, float, float, float, float]]] = {}
        for row in rows():
            grouped.setdefault(row[0], []).append(row)
        for held in grouped.values():
            held.sort(key=lambda row: row[4])
        return grouped

    def source(matchers: list[Matcher], budget: Budget) -> Iterator[tuple[Named, Points]]:
        names = [n for n in HOST_SERIES if matches_all(_of_name(matchers), {"__name__": n})]
        if not names:
            return
        hosts = by_host()
        budget.spend(len(hosts) * len(names))
        for host, held in hosts.items():
            for name in names:
                labels = {"__name__": name, "id": host}
                if matches_all(matchers, labels):
                    column = HOST_SERIES[name]
                    points = Raw.of_seconds([(r[4], r[column]) for r in held])
                    yield tuple(sorted(labels.items())), points

    return source


def integers_source(points: Callable[[], list[tuple[float, float]]]) -> Source:
    """Closed integer windows: `points` gives (window end, average), oldest first."""

    def source(matchers: list[Matcher], budget: Budget) -> Iterator[tuple[Named, Points]]:
        if matches_all(matchers, {"__name__": "integer_average"}):
            budget.spend(1)
            yield (("__name__", "integer_average"),), Raw.of_seconds(points())

    return source


def _of_name(matchers: list[Matcher]) -> list[Matcher]:
    return [m for m in matchers if m.name == "__name__"]
