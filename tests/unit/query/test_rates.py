"""rate and increase at every step at once (rates.extrapolated_rates) give the very floats the
one-window-at-a-time path gives (rates.extrapolated_rate)."""

from __future__ import annotations

import math
import random
from bisect import bisect_right

import numpy as np
import pytest

from cluster.query.columns import Layout
from cluster.query.rates import extrapolated_rate, extrapolated_rates


def _at_every_step(series, starts, ends, is_rate):
    """extrapolated_rates over lists: a row a series, None where there is no value."""
    layout = Layout(
        [np.array(t, dtype=np.int64) for t, _ in series],
        [np.array(v, dtype=np.float64) for _, v in series],
    )
    values, present, read = extrapolated_rates(
        layout, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64), is_rate
    )
    rows = zip(values.tolist(), present.tolist(), strict=True)
    return [[v if ok else None for v, ok in zip(*row, strict=True)] for row in rows], read


def _one_at_a_time(series, starts, ends, is_rate):
    found = []
    for times, values in series:
        row = []
        for start, end in zip(starts, ends, strict=True):
            low, high = bisect_right(times, start), bisect_right(times, end)
            row.append(extrapolated_rate(times[low:high], values[low:high], start, end, is_rate))
        found.append(row)
    return found


def _same(a, b):
    """The same float bit for bit (NaN as NaN, -0.0 not 0.0), or both None."""
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize("seed", range(30))
def test_every_step_at_once_gives_the_same_floats(seed):
    rng = random.Random(seed)
    series = []
    for _ in range(rng.randrange(1, 6)):
        t, value, times, values = rng.randrange(0, 5_000), rng.uniform(-5, 50), [], []
        for _ in range(rng.randrange(0, 40)):
            t += rng.randrange(1, 20_000)
            value = (
                rng.choice([0.0, value / 3]) if rng.random() < 0.15 else value + rng.uniform(0, 9)
            )
            times.append(t)
            values.append(rng.choice([value, math.nan]) if rng.random() < 0.03 else value)
        series.append((times, values))
    window = rng.randrange(1, 120_000)
    ends = list(range(rng.randrange(0, 50_000), 800_000, rng.randrange(5_000, 90_000)))
    starts = [end - window for end in ends]
    for is_rate in (True, False):
        found, read = _at_every_step(series, starts, ends, is_rate)
        wanted = _one_at_a_time(series, starts, ends, is_rate)
        assert all(
            _same(a, b)
            for row, want in zip(found, wanted, strict=True)
            for a, b in zip(row, want, strict=True)
        ), (found, wanted)
        assert read == sum(
            bisect_right(t, e) - bisect_right(t, s)
            for t, _ in series
            for s, e in zip(starts, ends, strict=True)
        )


def test_no_points_at_all_gives_no_values():
    assert _at_every_step([([], []), ([], [])], [0, 10], [5, 15], True) == (
        [[None, None]] * 2,
        0,
    )
