"""Helpers for the query tests: series from compact tuples, and one-call queries."""

from __future__ import annotations

from cluster.query import (
    Limits,
    MemoryStorage,
    Series,
    api_data,
    evaluate_instant,
    evaluate_range,
    parse,
)


def storage(*series: tuple[dict[str, str], list[tuple[float, float]]]) -> MemoryStorage:
    return MemoryStorage(Series.of(labels, points) for labels, points in series)


def instant(text: str, data: MemoryStorage, at: float, limits: Limits | None = None) -> dict:
    """The API's `data` for an instant query."""
    return api_data(evaluate_instant(parse(text), data, at, limits=limits))


def values(text: str, data: MemoryStorage, at: float) -> dict[frozenset, float]:
    """An instant vector as {labels: value}."""
    rows = instant(text, data, at)["result"]
    return {frozenset(row["metric"].items()): float(row["value"][1]) for row in rows}


def ranged(
    text: str, data: MemoryStorage, start: float, end: float, step: float, limits=None
) -> dict:
    return api_data(evaluate_range(parse(text), data, start, end, step, limits=limits))


def labels(**pairs: str) -> frozenset:
    return frozenset(pairs.items())
