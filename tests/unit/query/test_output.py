"""Numbers and times as Prometheus's API writes them, and its result shapes."""

from __future__ import annotations

import math

import pytest

from cluster.query import (
    Matrix,
    Sample,
    Scalar,
    SeriesPoints,
    String,
    Vector,
    api_data,
    format_time,
    format_value,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (100.0, "100"),
        (0.1, "0.1"),
        (1 / 3, "0.3333333333333333"),
        (1e21, "1000000000000000000000"),
        (1.5e-7, "0.00000015"),
        (123456789.125, "123456789.125"),
        (2.0**53 + 2, "9007199254740994"),
        (5e-324, "0." + "0" * 323 + "5"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_values_like_go_format_float(value: float, text: str) -> None:
    assert format_value(value) == text
    if math.isfinite(value):
        assert float(text) == value


def test_times_are_seconds_with_milliseconds() -> None:
    assert format_time(1_435_781_451_781) == 1435781451.781
    assert format_time(1_435_781_451_000) == 1435781451
    assert isinstance(format_time(1_435_781_451_000), int)
    assert format_time(-1_500) == -1.5


def test_result_shapes() -> None:
    labels = (("__name__", "x"), ("job", "a"))
    assert api_data(Scalar(1500, 2.0)) == {"resultType": "scalar", "result": [1.5, "2"]}
    assert api_data(String(1000, "s")) == {"resultType": "string", "result": [1, "s"]}
    vector = api_data(Vector(2000, (Sample(labels, 0.5),)))
    assert vector == {
        "resultType": "vector",
        "result": [{"metric": {"__name__": "x", "job": "a"}, "value": [2, "0.5"]}],
    }
    matrix = api_data(Matrix((SeriesPoints(labels, ((1001, 1.0), (2002, math.inf))),)))
    assert matrix == {
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "x", "job": "a"}, "values": [[1.001, "1"], [2.002, "+Inf"]]}
        ],
    }
