"""The supported functions: their signatures (checked by the parser) and what they compute
(called by the engine), as Prometheus 3 defines them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cluster.query.ast import ValueType
from cluster.query.floatmath import go_max, go_min, kahan_mean, kahan_sum, max_of, min_of


@dataclass(frozen=True, slots=True)
class Window:
    """The points of one series in a range (start, end], in milliseconds."""

    times: Sequence[int]
    values: Sequence[float]
    start: int
    end: int


@dataclass(frozen=True)
class RangeFunction:
    """A function of a range vector: one value per series and step, or None for no value."""

    apply: Callable[[Window], float | None]
    arg_types: tuple[ValueType, ...] = (ValueType.MATRIX,)
    type: ValueType = ValueType.VECTOR


@dataclass(frozen=True)
class ElementFunction:
    """A function applied to each sample of an instant vector, with scalar parameters."""

    apply: Callable[..., float]
    arg_types: tuple[ValueType, ...]
    type: ValueType = ValueType.VECTOR


@dataclass(frozen=True)
class TimeFunction:
    """time(): the evaluation time in seconds."""

    arg_types: tuple[ValueType, ...] = ()
    type: ValueType = ValueType.SCALAR


Function = RangeFunction | ElementFunction | TimeFunction


def extrapolated_rate(window: Window, is_rate: bool) -> float | None:
    """rate and increase: the counter's growth over the window (resets add back the value
    before them), extrapolated to the window's edges as Prometheus 3 does."""
    times, values = window.times, window.values
    if len(values) < 2:
        return None
    result = values[-1] - values[0]
    for previous, current in zip(values, values[1:], strict=False):
        if current < previous:
            result += previous
    duration_to_start = (times[0] - window.start) / 1000
    duration_to_end = (window.end - times[-1]) / 1000
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
        factor /= (window.end - window.start) / 1000
    return result * factor


def _rate(window: Window) -> float | None:
    return extrapolated_rate(window, is_rate=True)


def _increase(window: Window) -> float | None:
    return extrapolated_rate(window, is_rate=False)


def _over_time(reduce: Callable[[Sequence[float]], float]) -> RangeFunction:
    return RangeFunction(lambda window: reduce(window.values) if window.values else None)


_VECTOR_AND_SCALAR = (ValueType.VECTOR, ValueType.SCALAR)

FUNCTIONS: Mapping[str, Function] = {
    "rate": RangeFunction(_rate),
    "increase": RangeFunction(_increase),
    "sum_over_time": _over_time(kahan_sum),
    "avg_over_time": _over_time(kahan_mean),
    "min_over_time": _over_time(min_of),
    "max_over_time": _over_time(max_of),
    "count_over_time": _over_time(lambda values: float(len(values))),
    "abs": ElementFunction(abs, (ValueType.VECTOR,)),
    "clamp_min": ElementFunction(lambda v, low: go_max(low, v), _VECTOR_AND_SCALAR),
    "clamp_max": ElementFunction(lambda v, high: go_min(high, v), _VECTOR_AND_SCALAR),
    "time": TimeFunction(),
}
