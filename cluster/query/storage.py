"""What the engine reads: series (labels and points) selected by label matchers. The storage
side implements `Storage`; `MemoryStorage` holds series in memory (tests, snapshots)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cluster.query.matchers import Matcher, matches_all


@dataclass(frozen=True)
class Series:
    """One series: its labels, the metric name as `__name__`, and its points as
    (unix seconds, value), sorted by time, one point a millisecond at most."""

    labels: Mapping[str, str]
    points: Sequence[tuple[float, float]]


class Storage(Protocol):
    def select(self, matchers: Sequence[Matcher], start: float, end: float) -> Iterable[Series]:
        """Every series matching all `matchers` (Matcher.matches, an absent label reading as
        "") with its points from `start` to `end` (unix seconds, both included). More is
        allowed: the engine drops series that do not match and points outside the span."""
        ...


class MemoryStorage:
    """Series held in a list, selected by scanning it."""

    def __init__(self, series: Iterable[Series]) -> None:
        self._series = list(series)
        seen: set[frozenset[tuple[str, str]]] = set()
        for one in self._series:
            key = frozenset(one.labels.items())
            if key in seen:
                raise ValueError(f"two series have the labels {dict(one.labels)}")
            seen.add(key)
            times = [t for t, _ in one.points]
            if any(not math.isfinite(t) for t in times) or times != sorted(set(times)):
                raise ValueError(f"points of {dict(one.labels)} are not finite and increasing")

    def select(self, matchers: Sequence[Matcher], start: float, end: float) -> list[Series]:
        selected = []
        for one in self._series:
            if matches_all(matchers, one.labels):
                points = [p for p in one.points if start <= p[0] <= end]
                if points:
                    selected.append(Series(one.labels, points))
        return selected
