"""Vectors as columns (cluster/query/columns.py) and the aggregations over them: the same
floats as the step-by-step path, bit for bit, NaN, infinities and signed zeros included."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from cluster.query.aggregate import COLUMN_OPS, aggregate, aggregate_columns
from cluster.query.columns import Layout, StepValues

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
def test_an_aggregation_over_columns_gives_the_same_floats(op, seed):
    rng = random.Random(seed)
    vector = _random_vector(rng)
    grouping = tuple(rng.sample(["job", "instance", "__name__", "absent"], rng.randrange(0, 3)))
    without = rng.random() < 0.3
    at_once = aggregate_columns(op, vector, grouping, without).per_step()
    for step, one in enumerate(vector.per_step()):
        wanted = aggregate(op, one, grouping, without, None)
        assert {k: _bits(v) for k, v in at_once[step].items()} == {
            k: _bits(v) for k, v in wanted.items()
        }


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
