"""What the engine reads: series (labels and points) selected by label matchers. The storage
side implements `Storage`; `MemoryStorage` holds series in memory (tests, snapshots)."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from cluster.query.matchers import Matcher, matches_all
from cluster.query.plan import to_ms


@dataclass(frozen=True)
class Series:
    """One series: its labels, the metric name as `__name__`, and its points as two columns,
    times in unix milliseconds (strictly increasing) and their values. Columns, not pairs: the
    engine reads windows of them by bisection, and a caller that has columns (the cluster's
    wire) hands them over without a tuple a point."""

    labels: Mapping[str, str]
    times_ms: Sequence[int]
    values: Sequence[float]

    @classmethod
    def of(cls, labels: Mapping[str, str], points: Iterable[tuple[float, float]]) -> Series:
        """From (unix seconds, value) pairs, times rounded to the millisecond; ValueError for
        a time that is not finite."""
        pairs = list(points)
        if not all(math.isfinite(t) for t, _ in pairs):
            raise ValueError(f"points of {dict(labels)} are not finite and increasing")
        return cls(labels, [to_ms(t) for t, _ in pairs], [float(v) for _, v in pairs])


class Storage(Protocol):
    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> Iterable[Series]:
        """Every series matching all `matchers` (Matcher.matches, an absent label reading as
        "") with its points from `start_ms` to `end_ms` (both included). More is allowed: the
        engine drops series that do not match and points outside the span."""
        ...


class MemoryStorage:
    """Series held in a list, selected by scanning it. `checked=False` skips checking that
    label sets are unique and times increase, for series whose source guarantees both (the
    cluster's wire)."""

    def __init__(self, series: Iterable[Series], checked: bool = True) -> None:
        self._series = list(series)
        seen: set[frozenset[tuple[str, str]]] = set()
        for one in self._series if checked else ():
            key = frozenset(one.labels.items())
            if key in seen:
                raise ValueError(f"two series have the labels {dict(one.labels)}")
            seen.add(key)
            if len(one.times_ms) != len(one.values):
                raise ValueError(f"points of {dict(one.labels)} have times and values unpaired")
            if any(a >= b for a, b in pairwise(one.times_ms)):
                raise ValueError(f"points of {dict(one.labels)} are not finite and increasing")

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        selected = []
        for one in self._series:
            if not matches_all(matchers, one.labels):
                continue
            times = one.times_ms
            if len(times) and start_ms <= times[0] and times[-1] <= end_ms:
                selected.append(one)  # all in the span, as the cluster's wire hands them
                continue
            low, high = bisect_left(times, start_ms), bisect_right(times, end_ms)
            if low < high:
                selected.append(Series(one.labels, times[low:high], one.values[low:high]))
        return selected
