"""Running a PromQL query on a node: its parameters read as Prometheus reads them, the series it
selects fetched from the actor in one read (wire.Select: one state for the whole query), then
evaluated off the event loop by cluster/query."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import ciso8601
import numpy as np

from cluster.common import wire
from cluster.node.node import Node
from cluster.query import (
    Limits,
    QueryError,
    Series,
    api_data,
    evaluate_instant,
    evaluate_range,
    parse,
    selector_spans,
)
from cluster.query.ast import VectorSelector
from cluster.query.literals import parse_duration
from cluster.query.matchers import Matcher
from cluster.query.storage import MemoryStorage

LIMITS = Limits()
# Prometheus's "all time" for series and labels without start and end, in milliseconds.
MIN_MS, MAX_MS = -(2**62), 2**62


def parse_time(name: str, text: str | None, default: float | None = None) -> float:
    """Unix seconds from a float or an RFC 3339 time, as Prometheus's API takes them (an RFC
    3339 time names its offset: without one it would be read in the node's time zone)."""
    if text is None or text == "":
        if default is None:
            raise QueryError(f'missing parameter "{name}"')
        return default
    try:
        value = float(text)
    except ValueError:
        try:
            value = ciso8601.parse_rfc3339(text).timestamp()
        except (ValueError, OverflowError):
            raise QueryError(
                f'invalid parameter "{name}": cannot parse "{text[:100]}" to a valid timestamp'
            ) from None
    if not math.isfinite(value) or not MIN_MS <= value * 1000 <= MAX_MS:
        raise QueryError(
            f'invalid parameter "{name}": "{text[:100]}" is not a time between '
            f"{MIN_MS // 1000} and {MAX_MS // 1000} unix seconds"
        )
    return value


def parse_step(text: str | None) -> float:
    """Seconds of a step: a float, or a duration like 5m."""
    if not text:
        raise QueryError('missing parameter "step"')
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text) / 1000
        except ValueError:
            raise QueryError(
                f'invalid parameter "step": cannot parse "{text[:100]}" to a valid duration'
            ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise QueryError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    return seconds


def _wire(matchers: tuple[Matcher, ...] | list[Matcher]) -> list[tuple[str, str, str]]:
    return [(m.name, str(m.op), m.value) for m in matchers]


def _span(matchers: tuple[Matcher, ...] | list[Matcher], start_ms: int, end_ms: int) -> wire.Span:
    # Offsets and ranges may push a span past int64, which the wire cannot carry.
    return wire.Span(_wire(matchers), max(MIN_MS, start_ms), min(MAX_MS, end_ms))


async def _fetch(node: Node, spans: list[wire.Span], points: bool = True) -> list[wire.SeriesData]:
    if not spans:
        return []
    query = wire.Select(spans, points, LIMITS.max_series, LIMITS.max_samples)
    return wire.decode_selected(await node.read(query))


def _storage(found: list[wire.SeriesData]) -> MemoryStorage:
    # The actor's series come with increasing times (wire.SeriesData): not checked again. Their
    # columns are read where they lie, as arrays.
    return MemoryStorage(
        (
            Series(dict(s.labels), np.frombuffer(s.times_ms, "<i8"), np.frombuffer(s.values, "<f8"))
            for s in found
        ),
        False,
    )


async def instant(node: Node, text: str, at: float | None) -> dict[str, Any]:
    """`data` of /api/v1/query: `text` evaluated at `at` (None: now)."""
    expr = parse(text, LIMITS)
    when = time.time() if at is None else at
    spans = [_span(s.selector.matchers, s.start_ms, s.end_ms) for s in selector_spans(expr, when)]
    storage = _storage(await _fetch(node, spans))
    result = await asyncio.to_thread(evaluate_instant, expr, storage, when, limits=LIMITS)
    return api_data(result)


async def ranged(node: Node, text: str, start: float, end: float, step: float) -> dict[str, Any]:
    """`data` of /api/v1/query_range."""
    if end < start:
        raise QueryError("end timestamp must not be before start time")
    if (end - start) / step > LIMITS.max_steps:
        raise QueryError(
            f"exceeded maximum resolution of {LIMITS.max_steps:,} points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    expr = parse(text, LIMITS)
    selected = selector_spans(expr, start, end)
    spans = [_span(s.selector.matchers, s.start_ms, s.end_ms) for s in selected]
    storage = _storage(await _fetch(node, spans))
    result = await asyncio.to_thread(evaluate_range, expr, storage, start, end, step, limits=LIMITS)
    return api_data(result)


def selector(text: str) -> VectorSelector:
    """A `match[]` value: a series selector (`name{...}`), nothing else."""
    expr = parse(text, LIMITS)
    if not isinstance(expr, VectorSelector) or expr.offset_ms:
        raise QueryError(f'match[] {text[:200]!r} is not a series selector such as name{{l="v"}}')
    return expr


def _bounds(start: str | None, end: str | None) -> tuple[int, int]:
    """[start, end] of a label read in ms; all time without them."""
    low = MIN_MS if not start else round(parse_time("start", start) * 1000)
    high = MAX_MS if not end else round(parse_time("end", end) * 1000)
    if high < low:
        raise QueryError("end timestamp must not be before start time")
    return low, high


async def series_labels(
    node: Node, match: list[str], start: str | None, end: str | None
) -> list[dict[str, str]]:
    """The label sets of the series the selectors select with a point in [start, end]."""
    low, high = _bounds(start, end)
    matchers = [selector(text).matchers for text in match]
    found = await _fetch(node, [_span(m, low, high) for m in matchers], points=False)
    return [dict(labels) for labels in sorted(s.labels for s in found)]


async def label_values(
    node: Node, name: str | None, match: list[str], start: str | None, end: str | None
) -> list[str]:
    """The values of the label `name` (None: the label names) of the series the selectors
    select with a point in [start, end], sorted. Without `match`, of every series, in one read
    that takes the counters in bulk (wire.LabelValues)."""
    if match:
        found = await series_labels(node, match, start, end)
        if name is None:
            return sorted({label for labels in found for label in labels})
        return sorted({labels[name] for labels in found if name in labels})
    low, high = _bounds(start, end)
    return sorted(wire.decode_strings(await node.read(wire.LabelValues(name, low, high))))


def delete_request(match: list[str]) -> wire.DeleteSeries:
    """The admin's delete of every series one of the `match[]` selectors selects."""
    return wire.DeleteSeries([_wire(selector(text).matchers) for text in match])
