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

Pure Python: the actor passes its parts and its clock.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from cluster.actor.series import Series, SeriesBuffer
from cluster.common import wire
from cluster.common.wire import series_key
from cluster.query.errors import Limits, QueryError
from cluster.query.matchers import Matcher, MatchOp, RegexError, matches_all

Named = tuple[tuple[str, str], ...]  # a series' labels with __name__, sorted
Fetch = Callable[[int, int], list[tuple[int, float]]]  # points in [start_ms, end_ms]
Source = Callable[[list[Matcher]], Iterator[tuple[Named, Fetch]]]
HOST_SERIES = {"host_cpu_usage": 1, "host_memory_usage": 2, "host_disk_usage": 3}
_MAX_REGEX = Limits().max_regex_length
# The current value of a counter is stamped at the present; a span that ends a little before it
# (the node's clock read first) still takes it, at its end.
_CLOCK_SLACK_MS = 1000


def matchers_of(raw: list[tuple[str, str, str]]) -> list[Matcher]:
    try:
        return [Matcher.create(name, MatchOp(op), value, _MAX_REGEX) for name, op, value in raw]
    except (ValueError, RegexError) as exc:
        raise QueryError(str(exc)) from None


def select(query: wire.Select, sources: list[Source]) -> list[wire.SeriesData]:
    """The series of every span, each with its points in the spans that selected it."""
    owner: dict[Named, int] = {}
    chosen: dict[Named, tuple[Fetch, list[tuple[int, int]]]] = {}
    for span in query.spans:
        matchers = matchers_of(span.matchers)
        for rank, source in enumerate(sources):
            for labels, fetch in source(matchers):
                if owner.setdefault(labels, rank) != rank:
                    continue
                chosen.setdefault(labels, (fetch, []))[1].append((span.start_ms, span.end_ms))
                if len(chosen) > query.max_series:
                    raise QueryError(
                        f"query touches more than {query.max_series:,} series",
                        error_type="execution",
                    )
    found, total = [], 0
    for labels, (fetch, spans) in sorted(chosen.items()):
        points = [p for start, end in _merged(spans) for p in fetch(start, end)]
        if not points:
            continue
        total += len(points)
        if total > query.max_points:
            raise QueryError(
                f"query processing would read more than {query.max_points:,} samples",
                error_type="execution",
            )
        times, values = [t for t, _ in points], [v for _, v in points]
        found.append(
            wire.SeriesData(list(labels), *((times, values) if query.points else ([], [])))
        )
    return found


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans as disjoint ones, in order: fetching each gives increasing times."""
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


def samples_source(buffer: SeriesBuffer) -> Source:
    """The sample series of a SeriesBuffer (series.py), raw points, one a millisecond (the
    newest sample of a millisecond wins)."""

    def source(matchers: list[Matcher]) -> Iterator[tuple[Named, Fetch]]:
        for labels, series in _samples(buffer, matchers):
            yield labels, _raw_fetch(series.raw)

    return source


def _samples(buffer: SeriesBuffer, matchers: list[Matcher]) -> Iterator[tuple[Named, Series]]:
    for series in buffer.every():
        labels = {"__name__": series.name, **dict(series.labels)}
        if matches_all(matchers, labels):
            yield tuple(sorted(labels.items())), series


def _counters(counts: Mapping[str, int], matchers: list[Matcher]) -> Iterator[str]:
    name = _name_equal(matchers)  # a lookup, not a pass over a million counters
    for label in (name,) if name is not None else counts:
        if label in counts and matches_all(matchers, {"__name__": label}):
            yield label


def to_delete(
    selectors: list[list[tuple[str, str, str]]], buffer: SeriesBuffer, counts: Mapping[str, int]
) -> tuple[set[str], set[str]]:
    """The sample series (their keys) and the counters that the admin's selectors select."""
    keys: set[str] = set()
    labels: set[str] = set()
    for raw in selectors:
        matchers = matchers_of(raw)
        keys |= {series_key(s.name, s.labels) for _, s in _samples(buffer, matchers)}
        labels |= set(_counters(counts, matchers))
    return keys, labels


def _raw_fetch(raw: list[tuple[float, float]]) -> Fetch:
    def fetch(start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        low = bisect.bisect_left(raw, ((start_ms - 1) / 1000,))
        points: list[tuple[int, float]] = []
        for ts, value in raw[low:]:
            t = round(ts * 1000)
            if t > end_ms:
                break
            if t < start_ms:
                continue
            if points and points[-1][0] == t:
                points[-1] = (t, value)
            else:
                points.append((t, value))
        return points

    return fetch


@dataclass(frozen=True)
class CounterView:
    counts: Mapping[str, int]
    history: Callable[[str, int, int], list[tuple[int, int]]]
    now_ms: int


def counters_source(view: CounterView) -> Source:
    def source(matchers: list[Matcher]) -> Iterator[tuple[Named, Fetch]]:
        for label in _counters(view.counts, matchers):
            yield (("__name__", label),), _counter_fetch(view, label)

    return source


def _counter_fetch(view: CounterView, label: str) -> Fetch:
    def fetch(start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        now = view.now_ms
        at = min(now, end_ms) if end_ms >= now - _CLOCK_SLACK_MS else None
        points = [(t, float(v)) for t, v in view.history(label, start_ms, end_ms)]
        if at is not None and at >= start_ms and label in view.counts:
            points = [p for p in points if p[0] < at]
            points.append((at, float(view.counts[label])))
        return points

    return fetch


def hosts_source(rows: Callable[[], list[tuple[str, float, float, float, float]]]) -> Source:
    """Host rows (hosts.py) as three series per host; `rows` gives them all, any order."""

    @functools.cache  # once per Select, however many of its spans ask
    def by_host() -> dict[str, list[tuple[str, float, float, float, float]]]:
        grouped: dict[str, list[tuple[str, float, float, float, float]]] = {}
        for row in rows():
            grouped.setdefault(row[0], []).append(row)
        for held in grouped.values():
            held.sort(key=lambda row: row[4])
        return grouped

    def source(matchers: list[Matcher]) -> Iterator[tuple[Named, Fetch]]:
        names = [n for n in HOST_SERIES if matches_all(_of_name(matchers), {"__name__": n})]
        if not names:
            return
        for host, held in by_host().items():
            for name in names:
                labels = {"__name__": name, "id": host}
                if matches_all(matchers, labels):
                    column = HOST_SERIES[name]
                    points = [(row[4], row[column]) for row in held]
                    yield tuple(sorted(labels.items())), _raw_fetch(points)

    return source


def integers_source(points: Callable[[], list[tuple[float, float]]]) -> Source:
    """Closed integer windows: `points` gives (window end, average), oldest first."""

    def source(matchers: list[Matcher]) -> Iterator[tuple[Named, Fetch]]:
        if matches_all(matchers, {"__name__": "integer_average"}):
            yield (("__name__", "integer_average"),), _raw_fetch(points())

    return source


def _of_name(matchers: list[Matcher]) -> list[Matcher]:
    return [m for m in matchers if m.name == "__name__"]
