"""Go's float special cases and Prometheus's compensated sums."""

from __future__ import annotations

import math

import pytest

from cluster.query.floatmath import (
    divide,
    go_max,
    go_min,
    kahan_mean,
    kahan_sum,
    max_of,
    min_of,
    modulo,
    power,
)

NAN, INF = math.nan, math.inf


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


@pytest.mark.parametrize(
    ("func", "a", "b", "expected"),
    [
        (divide, 1.0, 0.0, INF),
        (divide, -1.0, 0.0, -INF),
        (divide, 1.0, -0.0, -INF),
        (divide, 0.0, 0.0, NAN),
        (divide, NAN, 0.0, NAN),
        (divide, 6.0, 3.0, 2.0),
        (modulo, 7.0, 3.0, 1.0),
        (modulo, -7.0, 3.0, -1.0),
        (modulo, 7.0, 0.0, NAN),
        (modulo, INF, 3.0, NAN),
        (modulo, 7.0, INF, 7.0),
        (power, 10.0, 400.0, INF),
        (power, -10.0, 401.0, -INF),
        (power, 0.0, -1.0, INF),
        (power, -0.0, -1.0, -INF),
        (power, -0.0, -2.0, INF),
        (power, -8.0, 1 / 3, NAN),
        (power, NAN, 0.0, 1.0),
        (power, 1.0, NAN, 1.0),
        (power, 2.0, 10.0, 1024.0),
        (go_max, NAN, INF, INF),
        (go_max, NAN, 1.0, NAN),
        (go_max, -0.0, 0.0, 0.0),
        (go_max, 1.0, 2.0, 2.0),
        (go_min, NAN, -INF, -INF),
        (go_min, 1.0, NAN, NAN),
        (go_min, 0.0, -0.0, -0.0),
        (go_min, 1.0, 2.0, 1.0),
    ],
)
def test_go_semantics(func, a: float, b: float, expected: float) -> None:
    assert _same(func(a, b), expected)


def test_compensated_sum_and_mean() -> None:
    assert sum([1e100, 1.0, -1e100]) == 0.0  # what a naive sum loses
    assert kahan_sum([1e100, 1.0, -1e100]) == 1.0
    assert kahan_sum([INF, 1.0]) == INF
    assert math.isnan(kahan_sum([INF, -INF]))
    assert kahan_mean([1e100, 1.0, -1e100]) == pytest.approx(1 / 3)
    assert kahan_mean([1.7e308, 1.7e308, 1.7e308]) == pytest.approx(1.7e308)  # sum overflows
    assert kahan_mean([INF, 1.0]) == INF
    assert kahan_mean([5.0]) == 5.0


def test_min_and_max_skip_nan_unless_all_are() -> None:
    assert min_of([NAN, 3.0, 1.0]) == 1.0
    assert max_of([2.0, NAN, 1.0]) == 2.0
    assert math.isnan(max_of([NAN, NAN]))
