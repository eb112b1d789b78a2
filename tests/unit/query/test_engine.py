"""Evaluation: Prometheus 3's windows, functions, operators, names and errors, computed by
hand on small series."""

from __future__ import annotations

import math

import pytest

from cluster.query import QueryError
from tests.unit.query.conftest import instant, labels, ranged, storage, values

X1 = {"__name__": "x", "job": "a"}
X2 = {"__name__": "x", "job": "b"}
Y1 = {"__name__": "y", "job": "a"}


def _every(seconds: float, count: int, value=lambda i: float(i), start: float = 0.0):
    return [(start + i * seconds, value(i)) for i in range(count)]


def test_instant_selector_takes_the_newest_point_within_five_minutes_left_open() -> None:
    data = storage((X1, [(0.0, 1.0), (100.0, 2.0)]))
    assert values("x", data, 100) == {labels(**X1): 2.0}
    assert values("x", data, 99.999) == {labels(**X1): 1.0}
    assert values("x", data, 399.999) == {labels(**X1): 2.0}
    assert values("x", data, 400) == {}  # (t - 5m, t]: the point at t - 5m is out
    assert values("x", data, -0.001) == {}


def test_range_windows_are_left_open() -> None:
    data = storage((X1, _every(10, 4)))  # points at 0, 10, 20, 30
    result = instant("x[30s]", data, 30)
    assert result["resultType"] == "matrix"
    assert result["result"][0]["values"] == [[10, "1"], [20, "2"], [30, "3"]]
    assert values("count_over_time(x[30s])", data, 30) == {labels(job="a"): 3.0}


def test_offsets_move_the_window_either_way() -> None:
    data = storage((X1, _every(60, 10)))
    assert values("x offset 2m", data, 300) == {labels(**X1): 3.0}
    assert values("x offset -2m", data, 300) == {labels(**X1): 7.0}
    assert values("sum_over_time(x[2m] offset 1m)", data, 300) == {labels(job="a"): 7.0}


def test_rate_and_increase_extrapolate_to_the_window_edges() -> None:
    # Points at 15, 25, 35, 45 (10, 20, 30, 40) in the window (0, 60]: each edge is 15 s away,
    # more than 1.1 average intervals, so each side extends by half an interval (5 s).
    data = storage((X1, [(15.0, 10.0), (25.0, 20.0), (35.0, 30.0), (45.0, 40.0)]))
    assert values("increase(x[1m])", data, 60) == {labels(job="a"): pytest.approx(40.0)}
    assert values("rate(x[1m])", data, 60) == {labels(job="a"): pytest.approx(40.0 / 60)}


def test_increase_never_extrapolates_below_zero() -> None:
    # 1, 11, 21, 31 at 15..45, window (10, 50]: 5 s to the start, but the counter was 0
    # just 1 s before its first point.
    data = storage((X1, [(15.0, 1.0), (25.0, 11.0), (35.0, 21.0), (45.0, 31.0)]))
    assert values("increase(x[40s])", data, 50) == {labels(job="a"): pytest.approx(36.0)}


def test_counter_resets_add_back_the_value_before_them() -> None:
    # 5, 10, 2, 4 at 10..40, window (0, 40]: growth 9; extrapolated by 10 s at the start.
    data = storage((X1, [(10.0, 5.0), (20.0, 10.0), (30.0, 2.0), (40.0, 4.0)]))
    assert values("increase(x[40s])", data, 40) == {labels(job="a"): pytest.approx(12.0)}


def test_a_reset_right_after_a_windows_first_point_counts() -> None:
    # 5, 1, 2, 3 at 10..40, window (5, 40]: growth 3 - 5 + 5 = 3; 5 s to extrapolate at the
    # start, none at the end: 3 * 35 / 30. Resets are counted once per series (the one from 9
    # to 5 is outside the window); this window's only one is between its first two points.
    data = storage((X1, [(0.0, 9.0), (10.0, 5.0), (20.0, 1.0), (30.0, 2.0), (40.0, 3.0)]))
    assert values("increase(x[35s])", data, 40) == {labels(job="a"): pytest.approx(3.5)}
    # As a range: at 35, (0, 35] holds 5, 1, 2: growth 2 - 5 + 5, times 35 / 20.
    steps = ranged("increase(x[35s])", data, 35, 40, 5)["result"][0]["values"]
    assert [float(v) for _, v in steps] == [pytest.approx(3.5), pytest.approx(3.5)]


def test_rate_needs_two_points() -> None:
    data = storage((X1, [(10.0, 5.0)]))
    assert values("rate(x[1m])", data, 30) == {}
    assert values("count_over_time(x[1m])", data, 30) == {labels(job="a"): 1.0}


def test_over_time_functions() -> None:
    data = storage((X1, [(1.0, 3.0), (2.0, math.nan), (3.0, -1.0), (4.0, 2.5)]))
    got = {f: values(f"{f}(x[10s])", data, 4)[labels(job="a")] for f in ("min_over_time",)}
    assert got == {"min_over_time": -1.0}
    assert values("max_over_time(x[10s])", data, 4)[labels(job="a")] == 3.0
    assert math.isnan(values("sum_over_time(x[10s])", data, 4)[labels(job="a")])
    clean = storage((X1, [(1.0, 1e100), (2.0, 1.0), (3.0, -1e100)]))
    assert values("sum_over_time(x[10s])", clean, 3) == {labels(job="a"): 1.0}  # Kahan
    assert values("avg_over_time(x[10s])", clean, 3) == {labels(job="a"): pytest.approx(1 / 3)}


def test_metric_name_is_dropped_or_kept_as_in_prometheus_3() -> None:
    data = storage((X1, [(0.0, 5.0)]), (X2, [(0.0, -3.0)]))
    named, bare = labels(**X1), labels(job="a")
    assert set(values("x", data, 1)) == {named, labels(**X2)}
    for dropped in ("x * 1", "x > bool 0", "abs(x)", "clamp_min(x, 0)", "-x", "rate(x[1m])"):
        assert all("__name__" not in dict(k) for k in values(dropped, data, 1)), dropped
    assert set(values("x > 0", data, 1)) == {named}
    assert set(values("0 < x", data, 1)) == {named}
    assert set(values("topk(1, x)", data, 1)) == {named}
    assert set(values("x and x", data, 1)) == {named, labels(**X2)}
    assert values("sum_over_time(x[1m])", data, 1)[bare] == 5.0


def test_filtering_comparison_keeps_the_vector_value_on_either_side() -> None:
    data = storage((X1, [(0.0, 5.0)]))
    assert values("3 < x", data, 1) == {labels(**X1): 5.0}
    assert values("3 < bool x", data, 1) == {labels(job="a"): 1.0}
    assert values("x < bool 3", data, 1) == {labels(job="a"): 0.0}


def test_arithmetic_follows_ieee_where_python_raises() -> None:
    data = storage((X1, [(0.0, 5.0)]))
    assert values("x / 0", data, 1) == {labels(job="a"): math.inf}
    assert math.isnan(values("x % 0", data, 1)[labels(job="a")])
    assert values("-x ^ 0.5", data, 1) == {labels(job="a"): -math.sqrt(5)}  # -(x ^ 0.5)
    assert math.isnan(values("(0 - x) ^ 0.5", data, 1)[labels(job="a")])
    assert values("x ^ 1000", data, 1) == {labels(job="a"): math.inf}
    assert instant("2 ^ 3 ^ 2", data, 1)["result"] == [1, "512"]
    assert instant("-2 ^ 2", data, 1)["result"] == [1, "-4"]
    assert instant("-7 % 3", data, 1)["result"] == [1, "-1"]
    assert instant("0 / 0", data, 1)["result"] == [1, "NaN"]


def test_one_to_one_matching_with_on_and_ignoring() -> None:
    data = storage(
        ({"__name__": "x", "job": "a", "i": "1"}, [(0.0, 10.0)]),
        ({"__name__": "x", "job": "b", "i": "1"}, [(0.0, 20.0)]),
        ({"__name__": "y", "job": "a", "i": "2"}, [(0.0, 1.0)]),
        ({"__name__": "y", "job": "c", "i": "2"}, [(0.0, 2.0)]),
    )
    assert values("x + on(job) y", data, 1) == {labels(job="a"): 11.0}
    assert values("x - ignoring(i) y", data, 1) == {labels(job="a"): 9.0}
    assert values("x > on(job) y", data, 1) == {labels(job="a"): 10.0}
    assert values("x + y", data, 1) == {}  # i differs
    assert values("x < bool ignoring(i) y", data, 1) == {labels(job="a"): 0.0}


def test_many_to_many_and_many_to_one_are_errors() -> None:
    data = storage(
        ({"__name__": "x", "job": "a", "i": "1"}, [(0.0, 1.0)]),
        ({"__name__": "x", "job": "a", "i": "2"}, [(0.0, 2.0)]),
        ({"__name__": "y", "job": "a"}, [(0.0, 3.0)]),
    )
    with pytest.raises(QueryError, match="found duplicate series for the match group") as caught:
        instant("y + on(job) x", data, 1)
    assert caught.value.error_type == "execution"
    with pytest.raises(QueryError, match="many-to-one matching must be explicit"):
        instant("x + on(job) y", data, 1)
    assert values("x + on(job) nothing", data, 1) == {}  # one side empty: nothing to match


def test_same_labelset_after_dropping_names_is_an_error() -> None:
    data = storage(
        ({"__name__": "x", "job": "a"}, [(0.0, 1.0), (10.0, 2.0)]),
        ({"__name__": "y", "job": "a"}, [(100.0, 3.0), (110.0, 4.0)]),
    )
    with pytest.raises(QueryError, match="same labelset"):
        instant('{__name__=~"x|y"} * 2', data, 110)
    assert values('{__name__=~"x|y"} * 2', data, 50) == {labels(job="a"): 4.0}  # only x here
    # Range functions clash over the whole range, even where only one series has points.
    with pytest.raises(QueryError, match="same labelset"):
        ranged('rate({__name__=~"x|y"}[15s])', data, 10, 110, 100)


def test_set_operators() -> None:
    data = storage(
        ({"__name__": "x", "job": "a"}, [(0.0, 1.0)]),
        ({"__name__": "x", "job": "b"}, [(0.0, 2.0)]),
        ({"__name__": "y", "job": "b"}, [(0.0, 3.0)]),
        ({"__name__": "y", "job": "c"}, [(0.0, 4.0)]),
    )
    x_a, x_b = labels(__name__="x", job="a"), labels(__name__="x", job="b")
    assert values("x and y", data, 1) == {x_b: 2.0}
    assert values("x unless y", data, 1) == {x_a: 1.0}
    assert values("x or y", data, 1) == {x_a: 1.0, x_b: 2.0, labels(__name__="y", job="c"): 4.0}
    assert values("x and on() y", data, 1) == {x_a: 1.0, x_b: 2.0}
    assert values("x unless nothing", data, 1) == {x_a: 1.0, x_b: 2.0}
    assert values("x and nothing", data, 1) == {}


def test_aggregations() -> None:
    data = storage(
        ({"__name__": "x", "job": "a", "i": "1"}, [(0.0, 1.0)]),
        ({"__name__": "x", "job": "a", "i": "2"}, [(0.0, 4.0)]),
        ({"__name__": "x", "job": "b", "i": "1"}, [(0.0, math.nan)]),
        ({"__name__": "x", "job": "b", "i": "2"}, [(0.0, 7.0)]),
    )
    a, b = labels(job="a"), labels(job="b")
    assert values("sum by (job) (x)", data, 1)[a] == 5.0
    assert values("avg(x) by (job)", data, 1)[a] == 2.5
    assert values("min by (job) (x)", data, 1) == {a: 1.0, b: 7.0}  # NaN loses
    assert values("max without (i) (x)", data, 1) == {a: 4.0, b: 7.0}
    assert values("count(x)", data, 1) == {frozenset(): 4.0}
    assert values("sum by (__name__) (x)", data, 1).keys() == {labels(__name__="x")}
    assert values("count by (nothing) (x)", data, 1) == {frozenset(): 4.0}
    top = values("topk by (job) (1, x)", data, 1)
    assert top == {
        labels(__name__="x", job="a", i="2"): 4.0,
        labels(__name__="x", job="b", i="2"): 7.0,
    }
    bottom = values("bottomk(2, x)", data, 1)
    assert set(bottom.values()) == {1.0, 4.0}  # NaN ranks last for bottomk too
    assert len(values("topk(2.9, x)", data, 1)) == 2
    assert values("topk(0, x)", data, 1) == {}
    assert len(values("topk(100, x)", data, 1)) == 4
    with pytest.raises(QueryError, match="overflows int64"):
        instant("topk(NaN, x)", data, 1)


def test_sum_and_avg_are_compensated_and_avg_survives_overflow() -> None:
    data = storage(
        ({"__name__": "x", "i": "1"}, [(0.0, 1e100)]),
        ({"__name__": "x", "i": "2"}, [(0.0, 1.0)]),
        ({"__name__": "x", "i": "3"}, [(0.0, -1e100)]),
        ({"__name__": "y", "i": "1"}, [(0.0, 1.7e308)]),
        ({"__name__": "y", "i": "2"}, [(0.0, 1.7e308)]),
    )
    assert values("sum(x)", data, 1) == {frozenset(): 1.0}
    assert values("avg(y)", data, 1) == {frozenset(): pytest.approx(1.7e308)}
    assert values("sum(y)", data, 1) == {frozenset(): math.inf}


def test_scalars_and_strings() -> None:
    data = storage()
    assert instant("time()", data, 12.5) == {"resultType": "scalar", "result": [12.5, "12.5"]}
    assert instant("1 + 2 * 3", data, 0)["result"] == [0, "7"]
    assert instant("1 > bool 2", data, 0)["result"] == [0, "0"]
    assert instant('"hi"', data, 5) == {"resultType": "string", "result": [5, "hi"]}
    assert instant("-time()", data, 2)["result"] == [2, "-2"]


def test_range_query_assembles_series_over_steps() -> None:
    data = storage(
        (X1, _every(10, 31)), ({"__name__": "x", "job": "late"}, _every(10, 5, start=200))
    )
    result = ranged("x", data, 0, 300, 100)
    assert result["resultType"] == "matrix"
    by_job = {row["metric"]["job"]: row["values"] for row in result["result"]}
    assert by_job["a"] == [[0, "0"], [100, "10"], [200, "20"], [300, "30"]]
    assert by_job["late"] == [[200, "0"], [300, "4"]]
    scalar = ranged("time() * 2", data, 0, 20, 10)
    assert scalar["result"] == [{"metric": {}, "values": [[0, "0"], [10, "20"], [20, "40"]]}]


@pytest.mark.parametrize(
    ("text", "start", "end", "step", "message"),
    [
        ("x", 10, 0, 1, "end timestamp must not be before start time"),
        ("x", 0, 10, 0, "zero or negative query resolution step"),
        ("x[5m]", 0, 10, 1, 'invalid expression type "range vector" for range query'),
        ('"s"', 0, 10, 1, 'invalid expression type "string"'),
        ("x", 0, 11_000, 1, "exceeded maximum resolution of 11,000 points per timeseries"),
        ("x", math.nan, 10, 1, "start must be a finite number"),
    ],
)
def test_range_query_parameters(text, start, end, step, message) -> None:
    with pytest.raises(QueryError, match=message):
        ranged(text, storage(), start, end, step)


def test_exactly_the_step_limit_passes() -> None:
    assert ranged("1", storage(), 0, 10_999, 1)["result"][0]["values"][-1] == [10_999, "1"]
