"""What an evaluation returns. Times are integer milliseconds, as the engine computes them."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.query.labels import Labels


@dataclass(frozen=True)
class Scalar:
    time_ms: int
    value: float


@dataclass(frozen=True)
class String:
    time_ms: int
    value: str


@dataclass(frozen=True)
class Sample:
    labels: Labels
    value: float


@dataclass(frozen=True)
class Vector:
    """An instant vector at `time_ms`, its samples sorted by labels."""

    time_ms: int
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class SeriesPoints:
    labels: Labels
    points: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Matrix:
    """Series sorted by labels, each with at least one point."""

    series: tuple[SeriesPoints, ...]


Result = Scalar | String | Vector | Matrix
