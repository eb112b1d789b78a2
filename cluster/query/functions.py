"""The supported functions: their signatures (checked by the parser) and what they compute
(called by the engine), as Prometheus 3 defines them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cluster.query.ast import ValueType
from cluster.query.columns import Layout
from cluster.query.floatmath import go_max, go_min, kahan_mean, kahan_sum, max_of, min_of
from cluster.query.rates import extrapolated_rate, extrapolated_rates


@dataclass(frozen=True, slots=True)
class Window:
    """The points of one series in a range (start, end], in milliseconds."""

    times: Sequence[int]
    values: Sequence[float]
    start: int
    end: int


# (series laid out, window starts, window ends) -> (values, present, points read): rates.py
EveryStep = Callable[[Layout, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, int]]


@dataclass(frozen=True)
class RangeFunction:
    """A function of a range vector: one value per series and step, or None for no value."""

    apply: Callable[[Window], float | None]
    # The same for every series and step at once (columns.Layout), where one is written.
    every_step: EveryStep | None = None
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


def _rate(window: Window) -> float | None:
    return extrapolated_rate(window.times, window.values, window.start, window.end, True)


def _increase(window: Window) -> float | None:
    return extrapolated_rate(window.times, window.values, window.start, window.end, False)


def _every_step(is_rate: bool) -> EveryStep:
    return lambda layout, starts, ends: extrapolated_rates(layout, starts, ends, is_rate)


def _over_time(reduce: Callable[[Sequence[float]], float]) -> RangeFunction:
    return RangeFunction(lambda window: reduce(window.values) if window.values else None)


_VECTOR_AND_SCALAR = (ValueType.VECTOR, ValueType.SCALAR)

FUNCTIONS: Mapping[str, Function] = {
    "rate": RangeFunction(_rate, _every_step(True)),
    "increase": RangeFunction(_increase, _every_step(False)),
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
