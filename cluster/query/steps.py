"""rate and increase at every step of a range query, for every series at once (numpy): one
window a series and step, the same arithmetic as functions.extrapolated_rate operation for
operation, so the answers are the same floats. A window holding a counter reset goes through
extrapolated_rate itself, which adds the resets in Prometheus's order; those are rare.

All series in one pass: their points are laid end to end, each series' times shifted past the
one before (by the span they and the windows cover), so one sorted array and one search find
every window. Measured on 1,000 series over an hour at a 60 s step: the windows one at a time
took ~120 ms of a ~190 ms evaluation; numpy a series at a time ~60 ms (its per-call cost)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cluster.query.functions import Window, extrapolated_rate

Points = tuple[Sequence[int], Sequence[float]]  # a series' times (ms, increasing) and values
_ROOM = 2**62  # shifted times stay within int64


def extrapolated_rates(
    series: Sequence[Points], starts: Sequence[int], ends: Sequence[int], is_rate: bool
) -> tuple[list[list[float | None]], int]:
    """For each series, the value at each step whose window is (starts[i], ends[i]] (None:
    fewer than two points); and how many points the windows held in all."""
    lengths = [len(times) for times, _ in series]
    if not sum(lengths):
        return [[None] * len(starts) for _ in series], 0
    low_time = min(min(times[0] for times, _ in series if times), min(starts))
    span = max(max(times[-1] for times, _ in series if times), max(ends)) - low_time + 1
    if span * len(series) >= _ROOM:  # too wide to lay end to end: one series at a time
        found, total = [], 0
        for one in series:
            [values], read = extrapolated_rates([one], starts, ends, is_rate)
            found.append(values)
            total += read
        return found, total
    t = np.concatenate([np.asarray(times, dtype=np.int64) for times, _ in series])
    v = np.concatenate([np.asarray(values, dtype=np.float64) for _, values in series])
    heads = np.concatenate(([0], np.cumsum(lengths)[:-1]))  # where each series begins
    shift = np.arange(len(series), dtype=np.int64) * span - low_time
    t_laid = t + np.repeat(shift, lengths)
    s0, e0 = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    s, e = s0[None, :] + shift[:, None], e0[None, :] + shift[:, None]  # series x steps
    low = np.searchsorted(t_laid, s, side="right")
    high = np.searchsorted(t_laid, e, side="right")
    count = high - low
    enough = count >= 2
    first, last = np.where(enough, low, 0), np.where(enough, high - 1, 0)
    # resets[i]: the points up to i below the one before. A window's own first point is not
    # counted (a difference of two), so the fall from one series' last to the next's first,
    # always a window's first when in one, never is.
    fell = np.zeros(len(v), dtype=np.int64)
    fell[1:] = v[1:] < v[:-1]
    resets = np.cumsum(fell)
    v0, v1, t0, t1 = v[first], v[last], t[first], t[last]
    s_ms, e_ms = np.broadcast_to(s0, s.shape), np.broadcast_to(e0, e.shape)
    with np.errstate(divide="ignore", invalid="ignore"):  # steps without two points
        result = v1 - v0
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
        growth = np.where(enough, result * factor, np.nan).tolist()
    found: list[list[float | None]] = [
        [g if ok else None for g, ok in zip(row, oks, strict=True)]
        for row, oks in zip(growth, enough.tolist(), strict=True)
    ]
    with_resets = enough & (resets[last] - resets[first] > 0)
    for k, i in zip(*np.nonzero(with_resets), strict=True):
        times, values = series[k]
        a, b = int(low[k, i] - heads[k]), int(high[k, i] - heads[k])
        window = Window(times[a:b], values[a:b], starts[i], ends[i])
        found[k][i] = extrapolated_rate(window, is_rate)
    return found, int(count.sum())
