"""Results in the shapes of Prometheus's HTTP API (`data` of /api/v1/query and query_range)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from cluster.query.results import Matrix, Result, Scalar, String, Vector


def format_value(value: float) -> str:
    """As Prometheus writes a sample: Go's strconv.FormatFloat(v, 'f', -1, 64), the shortest
    decimal that reads back as `value`, never with an exponent; but +Inf, -Inf and NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    # repr is the shortest round-tripping form too; Decimal lays it out without an exponent.
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_time(time_ms: int) -> int | float:
    """Unix seconds, with milliseconds where there are any (1435781451.781, 1435781451)."""
    return time_ms // 1000 if time_ms % 1000 == 0 else time_ms / 1000


def api_data(result: Result) -> dict[str, Any]:
    """`{"resultType": ..., "result": ...}`, what Prometheus puts under `data`."""
    match result:
        case Scalar(time_ms=t, value=v):
            return {"resultType": "scalar", "result": [format_time(t), format_value(v)]}
        case String(time_ms=t, value=v):
            return {"resultType": "string", "result": [format_time(t), v]}
        case Vector(time_ms=t, samples=samples):
            rows = [
                {"metric": dict(s.labels), "value": [format_time(t), format_value(s.value)]}
                for s in samples
            ]
            return {"resultType": "vector", "result": rows}
        case Matrix(series=series):
            rows = [
                {
                    "metric": dict(s.labels),
                    "values": [[format_time(t), format_value(v)] for t, v in s.points],
                }
                for s in series
            ]
            return {"resultType": "matrix", "result": rows}
    raise TypeError(f"not a query result: {result!r}")
