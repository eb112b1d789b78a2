"""rate and increase as Prometheus 3 computes them: the growth of a counter over a window (a
reset adds back the value before it), extrapolated to the window's edges. Over one window
(`extrapolated_rate`), and over every series and step of an evaluation at once
(`extrapolated_rates`, numpy), the same arithmetic operation for operation, so the two give the
same floats. A window holding two resets or more goes through the first, which adds them in
Prometheus's order; those are rare."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cluster.query.columns import Layout


def extrapolated_rate(
    times: Sequence[int], values: Sequence[float], start: int, end: int, is_rate: bool
) -> float | None:
    """Over the points of the window (start, end] (ms); None with fewer than two."""
    if len(values) < 2:
        return None
    result = values[-1] - values[0]
    for previous, current in zip(values, values[1:], strict=False):
        if current < previous:
            result += previous
    duration_to_start = (times[0] - start) / 1000
    duration_to_end = (end - times[-1]) / 1000
    sampled_interval = (times[-1] - times[0]) / 1000
    average_interval = sampled_interval / (len(values) - 1)
    # A series that starts or ends well inside the window (no point where the spacing
    # would put one) is extrapolated by half an interval only, not to the edge.
    threshold = average_interval * 1.1
    if duration_to_start >= threshold:
        duration_to_start = average_interval / 2
    # A counter cannot go below zero: never extrapolate back past the time it was zero.
    if result > 0 and values[0] >= 0:
        duration_to_start = min(duration_to_start, sampled_interval * (values[0] / result))
    if duration_to_end >= threshold:
        duration_to_end = average_interval / 2
    factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval
    if is_rate:
        factor /= (end - start) / 1000
    return result * factor


def extrapolated_rates(
    layout: Layout, starts: np.ndarray, ends: np.ndarray, is_rate: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """For each series of `layout` (row) and step (column), the value over the window
    (starts[step], ends[step]], whether there is one (two points or more), and how many points
    the windows held in all."""
    shape = (len(layout.lengths), len(starts))
    if not len(layout.times):
        return np.zeros(shape), np.zeros(shape, dtype=bool), 0
    t, v = layout.times, layout.values
    low, high = layout.search(starts, "right"), layout.search(ends, "right")
    count = high - low
    enough = count >= 2
    first, last = np.where(enough, low, 0), np.where(enough, high - 1, 0)
    # fell[i]: point i is below the one before. A window's own first point is not counted (a
    # difference of two), so the fall from one series' last point to the next's first, always
    # a window's first when in one, never is.
    fell = np.zeros(len(v), dtype=bool)
    fell[1:] = v[1:] < v[:-1]
    resets = np.cumsum(fell)
    falls = np.where(enough, resets[last] - resets[first], 0)
    v0, v1, t0, t1 = v[first], v[last], t[first], t[last]
    s_ms, e_ms = np.broadcast_to(starts, shape), np.broadcast_to(ends, shape)
    with np.errstate(all="ignore"):  # steps without two points; inf and NaN as Python has them
        result = v1 - v0
        if (falls == 1).any():  # the one fall's point before it, found by its index
            fell_at = np.maximum.accumulate(np.where(fell, np.arange(len(v)), 0))
            before = v[np.maximum(fell_at[last] - 1, 0)]
            result = np.where(falls == 1, result + before, result)
        to_start = (t0 - s_ms) / 1000
        to_end = (e_ms - t1) / 1000
        sampled = (t1 - t0) / 1000
        average = sampled / (count - 1)
        threshold = average * 1.1
        to_start = np.where(to_start >= threshold, average / 2, to_start)
        since_zero = sampled * (v0 / result)
        capped = (result > 0) & (v0 >= 0) & (since_zero < to_start)  # min() as Python has it
        to_start = np.where(capped, since_zero, to_start)
        to_end = np.where(to_end >= threshold, average / 2, to_end)
        factor = (sampled + to_start + to_end) / sampled
        if is_rate:
            factor = factor / ((e_ms - s_ms) / 1000)
        growth = np.where(enough, result * factor, 0.0)
    for row, step in zip(*np.nonzero(falls >= 2), strict=True):
        a, b = int(low[row, step]), int(high[row, step])
        window = (t[a:b].tolist(), v[a:b].tolist(), int(starts[step]), int(ends[step]))
        growth[row, step] = extrapolated_rate(*window, is_rate)
    return growth, enough, int(count.sum())
