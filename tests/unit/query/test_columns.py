"""Vectors as columns (cluster/query/columns.py) and the aggregations over them: the same
floats as the step-by-step path, bit for bit, NaN, infinities and signed zeros included."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from cluster.query import aggregate as aggregation
from cluster.query import evaluate_instant, evaluate_range, parse
from cluster.query.aggregate import COLUMN_OPS, aggregate, aggregate_columns
from cluster.query.columns import Layout, StepValues
from cluster.query.storage import MemoryStorage, Series

_AWKWARD = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1.7e308, -1.7e308, 1e-300]


def _bits(value: float) -> tuple[bool, float, float]:
    """A float compared bit for bit, NaN equal to NaN."""
    return (math.isnan(value), 0.0 if math.isnan(value) else value, math.copysign(1.0, value))


def _random_vector(rng: random.Random) -> StepValues:
    rows, steps = rng.randrange(0, 40), rng.randrange(1, 8)
    labels = [
        (("__name__", rng.choice("xy")), ("instance", str(row)), ("job", rng.choice("abcd")))
        for row in range(rows)
    ]
    values = [
        [
            rng.choice(_AWKWARD) if rng.random() < 0.1 else rng.uniform(-1e3, 1e3)
            for _ in range(steps)
        ]
        for _ in range(rows)
    ]
    present = [[rng.random() < 0.8 for _ in range(steps)] for _ in range(rows)]
    return StepValues(
        labels,
        np.array(values, dtype=np.float64).reshape(rows, steps),
        np.array(present, dtype=bool).reshape(rows, steps),
    )


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("op", sorted(COLUMN_OPS))
@pytest.mark.parametrize("pass_cost", [0, 10**9])  # always a numpy pass a member; never
def test_an_aggregation_over_columns_gives_the_same_floats(op, seed, pass_cost, monkeypatch):
    monkeypatch.setattr(aggregation, "_PASS_COST", pass_cost)
    rng = random.Random(seed)
    vector = _random_vector(rng)
    grouping = tuple(rng.sample(["job", "instance", "__name__", "absent"], rng.randrange(0, 3)))
    without = rng.random() < 0.3
    at_once = aggregate_columns(op, vector, grouping, without).per_step()
    for step, one in enumerate(vector.per_step()):
        wanted = aggregate(op, one, grouping, without, None)
        # the same floats, in the same order (which topk and a further sum depend on)
        assert [(k, _bits(v)) for k, v in at_once[step].items()] == [
            (k, _bits(v)) for k, v in wanted.items()
        ]


def test_an_average_whose_sum_overflows_is_the_incremental_mean():
    labels = [(("i", str(i)),) for i in range(3)]
    values = np.array([[1.7e308], [1.7e308], [-1.7e308]])
    vector = StepValues(labels, values, np.ones((3, 1), dtype=bool))
    [found] = aggregate_columns("avg", vector, (), False).per_step()
    assert found[()] == pytest.approx(1.7e308 / 3)  # the direct sum would be inf


def test_per_step_and_series_read_rows_where_present():
    vector = StepValues(
        [(("a", "2"),), (("a", "1"),), (("a", "3"),)],
        np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
        np.array([[True, False], [True, True], [False, False]]),
    )
    assert vector.per_step() == [{(("a", "2"),): 1.0, (("a", "1"),): 3.0}, {(("a", "1"),): 4.0}]
    assert vector.series([10, 20]) == [
        ((("a", "1"),), [(10, 3.0), (20, 4.0)]),
        ((("a", "2"),), [(10, 1.0)]),
    ]


@pytest.mark.parametrize("wide", [False, True])
def test_a_layout_finds_each_series_points_as_a_search_of_each_would(wide):
    rng = random.Random(7)
    times = [
        np.array(sorted(rng.sample(range(-50, 200), rng.randrange(0, 9))), dtype=np.int64)
        for _ in range(6)
    ]
    if wide:  # too wide to lay end to end: searched one series at a time
        times[0] = np.array([-(2**61), 2**61], dtype=np.int64)
    layout = Layout(times, [t.astype(np.float64) for t in times])
    at = np.array([-60, 0, 7, 199, 250], dtype=np.int64)
    for side in ("left", "right"):
        found = layout.search(at, side)
        for row, one in enumerate(times):
            assert (found[row] - layout.heads[row]).tolist() == np.searchsorted(
                one, at, side
            ).tolist()


_EXPRESSIONS = [
    "x",
    "x offset 90s",
    "sum(x)",
    "avg by (job) (x)",
    "max without (instance) (x)",
    "min(max by (job) (x))",
    "sum(sum by (job) (x))",
    "topk(1, count by (job) (x))",
    "bottomk(2, x)",
    "sum by (job) (rate(x[2m]))",
    "avg(increase(x[150s] offset 1m))",
    "count(sum_over_time(x[2m]))",
    "max by (job) (x) > bool 0",
    "-sum(x)",
]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("text", _EXPRESSIONS)
def test_each_step_of_a_range_query_is_the_instant_query_at_that_time(text, seed):
    """The columns of a range query and a one-step evaluation give the same floats in the
    same order: a member order that differs shows in topk's ties and -0.0 against 0.0."""
    rng = random.Random(seed)
    series = []
    for i in range(rng.randrange(1, 12)):
        times = sorted(rng.sample(range(0, 900_000, 1_000), rng.randrange(1, 40)))
        values = [
            rng.choice(_AWKWARD) if rng.random() < 0.1 else float(rng.randrange(-3, 9))
            for _ in times
        ]
        labels = {"__name__": "x", "job": rng.choice("ab"), "instance": str(i)}
        series.append(Series(labels, times, values))
    storage = MemoryStorage(series)
    expr = parse(text)
    ranged = evaluate_range(expr, storage, 0, 900, 30)
    by_step: dict[int, list] = {}
    for one in ranged.series:
        for t, value in one.points:
            by_step.setdefault(t, []).append((one.labels, _bits(value)))
    for t in range(0, 900_001, 30_000):
        instant = evaluate_instant(expr, storage, t / 1000)
        wanted = [(sample.labels, _bits(sample.value)) for sample in instant.samples]
        assert sorted(by_step.get(t, [])) == sorted(wanted), t
