"""Float arithmetic as Go does it (IEEE results where Python raises) and Prometheus's
Kahan-Neumaier sums and means."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence


def divide(a: float, b: float) -> float:
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def modulo(a: float, b: float) -> float:
    """Go's math.Mod: the sign of `a`; NaN for a zero divisor or an infinite dividend."""
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def power(a: float, b: float) -> float:
    """Go's math.Pow: infinities instead of OverflowError, NaN or ±Inf instead of ValueError."""
    try:
        return math.pow(a, b)
    except OverflowError:
        negative = a < 0 and _is_odd_integer(b)
        return -math.inf if negative else math.inf
    except ValueError:
        if a == 0:  # 0 to a negative power
            negative = math.copysign(1.0, a) < 0 and _is_odd_integer(b)
            return -math.inf if negative else math.inf
        return math.nan  # a negative base to a fractional power


def go_max(a: float, b: float) -> float:
    """Go's math.Max: +Inf wins over NaN, NaN over any other number, +0 over -0."""
    if math.inf in (a, b):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return b if math.copysign(1.0, a) < 0 else a
    return a if a > b else b


def go_min(a: float, b: float) -> float:
    """Go's math.Min: -Inf wins over NaN, NaN over any other number, -0 over +0."""
    if -math.inf in (a, b):
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


def kahan_add(inc: float, total: float, compensation: float) -> tuple[float, float]:
    """One step of Neumaier's compensated sum, as Prometheus's kahanSumInc."""
    new_total = total + inc
    if math.isinf(new_total):
        return new_total, 0.0
    if abs(total) >= abs(inc):
        return new_total, compensation + ((total - new_total) + inc)
    return new_total, compensation + ((inc - new_total) + total)


def kahan_sum(values: Sequence[float]) -> float:
    total = compensation = 0.0
    for value in values:
        total, compensation = kahan_add(value, total, compensation)
    return total if math.isinf(total) else total + compensation


def kahan_mean(values: Sequence[float]) -> float:
    """Prometheus's mean: sum then divide, moving to an incremental mean only where the sum
    would overflow (which the direct sum could not represent)."""
    total, compensation = values[0], 0.0
    mean = 0.0
    incremental = False
    for count, value in enumerate(values[1:], start=2):
        if not incremental:
            new_total, new_compensation = kahan_add(value, total, compensation)
            if not math.isinf(new_total):
                total, compensation = new_total, new_compensation
                continue
            incremental = True
            mean, compensation = total / (count - 1), compensation / (count - 1)
        share = (count - 1) / count
        mean, compensation = kahan_add(value / count, share * mean, share * compensation)
    if incremental:
        return mean + compensation
    return total / len(values) + compensation / len(values)


def min_of(values: Sequence[float]) -> float:
    """The smallest value; NaN only when every value is NaN (Prometheus's min and min_over_time)."""
    return _extreme(values, lambda value, best: value < best)


def max_of(values: Sequence[float]) -> float:
    return _extreme(values, lambda value, best: value > best)


def _extreme(values: Sequence[float], better: Callable[[float, float], bool]) -> float:
    best = values[0]
    for value in values:
        if better(value, best) or math.isnan(best):
            best = value
    return best


def _is_odd_integer(value: float) -> bool:
    return math.isfinite(value) and value.is_integer() and int(value) % 2 == 1
