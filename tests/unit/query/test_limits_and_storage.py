"""The two phases (selector spans, then evaluation over a Storage), the storage contract, and
the bounds of Limits."""

from __future__ import annotations

import pytest

from cluster.query import (
    Limits,
    MemoryStorage,
    QueryError,
    Series,
    evaluate_instant,
    evaluate_range,
    parse,
    selector_spans,
)
from tests.unit.query.conftest import instant, ranged, storage, values


def test_spans_cover_lookback_ranges_and_offsets() -> None:
    expr = parse("rate(x[5m] offset 1m) + y offset -30s")
    spans = selector_spans(expr, 1000, 2000)
    assert [(s.selector.name, s.start, s.end) for s in spans] == [
        ("x", 1000 - 60 - 300, 2000 - 60),
        ("y", 1000 + 30 - 300, 2000 + 30),
    ]
    (instant_span,) = selector_spans(parse("z"), 500, lookback=60)
    assert (instant_span.start_ms, instant_span.end_ms) == (440_000, 500_000)
    assert selector_spans(parse("1 + time()"), 0) == []


class Recording:
    """A storage that returns every series whatever it is asked, and notes each call."""

    def __init__(self, series: list[Series]) -> None:
        self.series = series
        self.calls: list[tuple[tuple[str, ...], float, float]] = []

    def select(self, matchers, start, end):
        self.calls.append((tuple(str(m) for m in matchers), start, end))
        return self.series


def test_engine_asks_each_selector_once_with_its_span_and_refilters() -> None:
    backend = Recording(
        [
            Series.of({"__name__": "x", "job": "a"}, [(50.0, 1.0), (90.0, 2.0), (200.0, 9.0)]),
            Series.of({"__name__": "y", "job": "a"}, [(90.0, 5.0)]),
        ]
    )
    result = evaluate_instant(parse('x{job="a"} + x'), backend, 100)
    assert backend.calls == [
        (('job="a"', '__name__="x"'), -200_000, 100_000),
        (('__name__="x"',), -200_000, 100_000),
    ]
    # y was returned but does not match; the point at 200 is after the evaluation time.
    assert [(dict(s.labels), s.value) for s in result.samples] == [({"job": "a"}, 4.0)]


def test_memory_storage_validates_and_selects_by_span() -> None:
    with pytest.raises(ValueError, match="two series"):
        MemoryStorage([Series.of({"a": "1"}, []), Series.of({"a": "1"}, [])])
    with pytest.raises(ValueError, match="increasing"):
        MemoryStorage([Series.of({"a": "1"}, [(2.0, 0.0), (1.0, 0.0)])])
    data = MemoryStorage([Series.of({"__name__": "x"}, [(1.0, 1.0), (5.0, 2.0)])])
    (series,) = data.select(parse("x").matchers, 4_000, 6_000)
    assert (list(series.times_ms), list(series.values)) == ([5_000], [2.0])
    assert data.select(parse("x").matchers, 6_000, 9_000) == []


def test_empty_label_values_are_absent_labels() -> None:
    data = storage(({"__name__": "x", "env": ""}, [(0.0, 1.0)]))
    assert values('x{env=""}', data, 1) == {frozenset({("__name__", "x")}): 1.0}


def test_series_limit() -> None:
    data = storage(*(({"__name__": "x", "i": str(i)}, [(0.0, 1.0)]) for i in range(5)))
    with pytest.raises(QueryError, match="touches more than 4 series") as caught:
        instant("x", data, 1, Limits(max_series=4))
    assert caught.value.error_type == "execution"
    with pytest.raises(QueryError, match="more than 9 series"):
        instant("x + x", data, 1, Limits(max_series=9))  # counted per selector
    assert len(instant("x", data, 1, Limits(max_series=5))["result"]) == 5


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("sum_over_time(x[1m])", 2_400),  # 40 steps of 60 points: a window at a time
        ("rate(x[1m])", 2_400),  # every step at once
        ("sum(x)", 40),  # a point a step
    ],
)
def test_samples_limit_bounds_the_work(text: str, read: int) -> None:
    data = storage(({"__name__": "x"}, [(float(i), 1.0) for i in range(100)]))
    with pytest.raises(QueryError, match=f"read more than {read - 1:,} samples"):
        ranged(text, data, 60, 99, 1, Limits(max_samples=read - 1))
    ranged(text, data, 60, 99, 1, Limits(max_samples=read))


def test_points_limit_bounds_the_answer() -> None:
    data = storage(({"__name__": "x"}, [(float(i), 1.0) for i in range(100)]))
    with pytest.raises(QueryError, match="more than 50 points"):
        instant("x[100s]", data, 99, Limits(max_points=50))
    with pytest.raises(QueryError, match="more than 50 points"):
        ranged("x", data, 0, 99, 1, Limits(max_points=50))
    with pytest.raises(QueryError, match="more than 50 points"):
        ranged("time()", data, 0, 99, 1, Limits(max_points=50))
    with pytest.raises(QueryError, match="resolution of 10 points"):
        ranged("x", data, 0, 10, 1, Limits(max_steps=10))


def test_lookback_is_a_parameter() -> None:
    data = storage(({"__name__": "x"}, [(0.0, 1.0)]))
    expr = parse("x")
    assert len(evaluate_instant(expr, data, 50, lookback=60).samples) == 1
    assert evaluate_instant(expr, data, 50, lookback=30).samples == ()
    # in a range query, the series goes stale at the steps past the lookback
    [only] = evaluate_range(expr, data, 0, 100, 10, lookback=35).series
    assert [t for t, _ in only.points] == [0, 10_000, 20_000, 30_000]
    with pytest.raises(QueryError, match="lookback must be a positive"):
        evaluate_instant(expr, data, 50, lookback=0)
