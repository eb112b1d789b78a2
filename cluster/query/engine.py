"""Evaluation of a parsed expression over series read from a Storage, at one time (instant
query) or at every step of a range (range query), with Prometheus 3's semantics.

Each node is evaluated once for all steps: a scalar node gives one float a step, a vector
node one {labels: value} a step. Windows are left-open, (t - range, t]."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

from cluster.query.aggregate import aggregate
from cluster.query.ast import (
    SET_OPERATORS,
    Aggregation,
    Binary,
    Call,
    Expr,
    MatrixSelector,
    Negation,
    NumberLiteral,
    StringLiteral,
    ValueType,
    VectorSelector,
)
from cluster.query.binary import (
    VectorValue,
    insert,
    scalar_op,
    set_op,
    vector_scalar,
    vector_vector,
)
from cluster.query.errors import Limits, QueryError
from cluster.query.functions import FUNCTIONS, ElementFunction, RangeFunction, Window
from cluster.query.labels import Labels, drop_name, from_mapping
from cluster.query.matchers import matches_all
from cluster.query.plan import DEFAULT_LOOKBACK, spans_ms, to_ms
from cluster.query.results import Matrix, Result, Sample, Scalar, SeriesPoints, String, Vector
from cluster.query.steps import extrapolated_rates
from cluster.query.storage import Storage

# Range functions computed for every series and step at once (steps.py): is it a rate.
_EVERY_STEP = {"rate": True, "increase": False}


def evaluate_instant(
    expr: Expr,
    storage: Storage,
    time: float,
    *,
    lookback: float = DEFAULT_LOOKBACK,
    limits: Limits | None = None,
) -> Result:
    """The value of `expr` at `time` (unix seconds): a Vector, a Scalar, a String, or for a
    range selector a Matrix of its raw points."""
    limits = limits or Limits()
    t = _time_ms(time, "time")
    run = _Evaluation(expr, storage, [t], _lookback_ms(lookback), limits)
    match expr.type:
        case ValueType.SCALAR:
            return Scalar(t, run.scalar(expr)[0])
        case ValueType.STRING:
            assert isinstance(expr, StringLiteral)  # the only node of type string
            return String(t, expr.value)
        case ValueType.VECTOR:
            samples = sorted(run.vector(expr)[0].items())
            _check_points(len(samples), limits)
            return Vector(t, tuple(Sample(labels, value) for labels, value in samples))
    assert isinstance(expr, MatrixSelector)  # the only node of type range vector
    return run.raw_matrix(expr)


def evaluate_range(
    expr: Expr,
    storage: Storage,
    start: float,
    end: float,
    step: float,
    *,
    lookback: float = DEFAULT_LOOKBACK,
    limits: Limits | None = None,
) -> Matrix:
    """The value of `expr` at start, start + step, ... up to end: one series per label set
    with the steps where it has a value (a scalar gives one series without labels)."""
    limits = limits or Limits()
    first, last, step_ms = _time_ms(start, "start"), _time_ms(end, "end"), _time_ms(step, "step")
    if step_ms <= 0:
        raise QueryError("zero or negative query resolution step widths are not accepted")
    if last < first:
        raise QueryError("end timestamp must not be before start time")
    if expr.type not in (ValueType.SCALAR, ValueType.VECTOR):
        raise QueryError(
            f'invalid expression type "{expr.type}" for range query, must be scalar or '
            "instant vector"
        )
    if (last - first) // step_ms + 1 > limits.max_steps:
        raise QueryError(
            f"exceeded maximum resolution of {limits.max_steps:,} points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    steps = list(range(first, last + 1, step_ms))
    run = _Evaluation(expr, storage, steps, _lookback_ms(lookback), limits)
    if expr.type is ValueType.SCALAR:
        points = tuple(zip(steps, run.scalar(expr), strict=True))
        _check_points(len(points), limits)
        return Matrix((SeriesPoints((), points),))
    series: dict[Labels, list[tuple[int, float]]] = {}
    total = 0
    for t, vector in zip(steps, run.vector(expr), strict=True):
        total += len(vector)
        _check_points(total, limits)
        for labels, value in vector.items():
            series.setdefault(labels, []).append((t, value))
    return Matrix(tuple(SeriesPoints(k, tuple(v)) for k, v in sorted(series.items())))


def _time_ms(seconds: float, what: str) -> int:
    if not math.isfinite(seconds):
        raise QueryError(f"{what} must be a finite number of seconds, not {seconds}")
    return to_ms(seconds)


def _lookback_ms(lookback: float) -> int:
    if not math.isfinite(lookback) or to_ms(lookback) <= 0:
        raise QueryError(f"lookback must be a positive number of seconds, not {lookback}")
    return to_ms(lookback)


def _check_points(count: int, limits: Limits) -> None:
    if count > limits.max_points:
        raise QueryError(
            f"query would return more than {limits.max_points:,} points", error_type="execution"
        )


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A series as the engine reads it: times in ms, parallel to values."""

    labels: Labels
    times: list[int]
    values: list[float]


class _Evaluation:
    """One evaluation: the series every selector read, the steps, and the samples read so far
    (bounded by Limits.max_samples)."""

    def __init__(
        self, expr: Expr, storage: Storage, steps: list[int], lookback_ms: int, limits: Limits
    ) -> None:
        self._steps = steps
        self._lookback_ms = lookback_ms
        self._limits = limits
        self._samples = 0
        self._series: dict[int, list[_Loaded]] = {}
        touched = 0
        for span in spans_ms(expr, steps[0], steps[-1], lookback_ms):
            loaded = self._load(storage, span.selector, span.start_ms, span.end_ms)
            touched += len(loaded)
            if touched > limits.max_series:
                raise QueryError(
                    f"query touches more than {limits.max_series:,} series", error_type="execution"
                )
            self._series[id(span.selector)] = loaded

    @staticmethod
    def _load(storage: Storage, selector: VectorSelector, start: int, end: int) -> list[_Loaded]:
        loaded = []
        for series in storage.select(selector.matchers, start, end):
            if not matches_all(selector.matchers, series.labels):
                continue
            low = bisect_right(series.times_ms, start)  # (start, end]
            high = bisect_right(series.times_ms, end)
            if low < high:
                times, values = series.times_ms[low:high], series.values[low:high]
                loaded.append(_Loaded(from_mapping(series.labels), list(times), list(values)))
        return loaded

    def _read(self, count: int) -> None:
        self._samples += count
        if self._samples > self._limits.max_samples:
            raise QueryError(
                f"query processing would read more than {self._limits.max_samples:,} samples",
                error_type="execution",
            )

    def scalar(self, node: Expr) -> list[float]:
        match node:
            case NumberLiteral(value=value):
                return [value] * len(self._steps)
            case Call(func="time"):
                return [t / 1000 for t in self._steps]
            case Negation(expr=inner):
                return [-value for value in self.scalar(inner)]
            case Binary(op=op, lhs=lhs, rhs=rhs):
                pairs = zip(self.scalar(lhs), self.scalar(rhs), strict=True)
                return [scalar_op(op, a, b) for a, b in pairs]
        raise AssertionError(f"not a scalar node: {node!r}")  # the parser typed every node

    def vector(self, node: Expr) -> list[VectorValue]:
        match node:
            case VectorSelector():
                return self._selector(node)
            case Call(func=name, args=args):
                func = FUNCTIONS[name]
                if isinstance(func, RangeFunction):
                    assert isinstance(args[0], MatrixSelector)
                    return self._range_function(name, args[0])
                assert isinstance(func, ElementFunction)
                return self._element_function(func, args)
            case Aggregation():
                return self._aggregation(node)
            case Binary():
                return self._binary(node)
            case Negation(expr=inner):
                return [self._negate(vector) for vector in self.vector(inner)]
        raise AssertionError(f"not a vector node: {node!r}")

    def _selector(self, node: VectorSelector) -> list[VectorValue]:
        """The newest point of each series in (t - lookback, t] at each step t."""
        out: list[VectorValue] = [{} for _ in self._steps]
        for series in self._series[id(node)]:
            index = 0
            for step, t in enumerate(self._steps):
                end = t - node.offset_ms
                index = bisect_right(series.times, end, index)
                if index and series.times[index - 1] > end - self._lookback_ms:
                    out[step][series.labels] = series.values[index - 1]
                    self._read(1)
        return out

    def _windows(self, node: MatrixSelector, series: _Loaded) -> list[Window]:
        """The window of `series` at each step."""
        windows = []
        low = high = 0
        for t in self._steps:
            end = t - node.selector.offset_ms
            start = end - node.range_ms
            low = bisect_right(series.times, start, low)
            high = bisect_right(series.times, end, high)
            self._read(high - low)
            windows.append(Window(series.times[low:high], series.values[low:high], start, end))
        return windows

    def _at_each_step(self, name: str, node: MatrixSelector) -> list[list[float | None]]:
        """A range function's value at each step, for each series (None: none there)."""
        loaded = self._series[id(node.selector)]
        if name in _EVERY_STEP:
            ends = [t - node.selector.offset_ms for t in self._steps]
            starts = [end - node.range_ms for end in ends]
            points = [(series.times, series.values) for series in loaded]
            found, read = extrapolated_rates(points, starts, ends, _EVERY_STEP[name])
            self._read(read)
            return found
        func = FUNCTIONS[name]
        assert isinstance(func, RangeFunction)
        return [[func.apply(window) for window in self._windows(node, one)] for one in loaded]

    def _range_function(self, name: str, node: MatrixSelector) -> list[VectorValue]:
        out: list[VectorValue] = [{} for _ in self._steps]
        producers: set[Labels] = set()
        at_each_step = self._at_each_step(name, node)
        for series, found in zip(self._series[id(node.selector)], at_each_step, strict=True):
            labels = drop_name(series.labels)
            produced = False
            for step, value in enumerate(found):
                if value is not None:
                    out[step][labels] = value
                    produced = True
            # As Prometheus: two series that differ only by name clash even at other steps.
            if not produced:
                continue
            if labels in producers:
                raise QueryError(
                    "vector cannot contain metrics with the same labelset", error_type="execution"
                )
            producers.add(labels)
        return out

    def raw_matrix(self, node: MatrixSelector) -> Matrix:
        """At an instant query's only step: the points of each series in its window."""
        series = []
        total = 0
        for one in self._series[id(node.selector)]:
            (window,) = self._windows(node, one)
            if window.times:
                total += len(window.times)
                _check_points(total, self._limits)
                points = tuple(zip(window.times, window.values, strict=True))
                series.append(SeriesPoints(one.labels, points))
        return Matrix(tuple(sorted(series, key=lambda s: s.labels)))

    def _element_function(self, func: ElementFunction, args: tuple[Expr, ...]) -> list[VectorValue]:
        params = [self.scalar(arg) for arg in args[1:]]
        out = []
        for step, vector in enumerate(self.vector(args[0])):
            at_step = [param[step] for param in params]
            result: VectorValue = {}
            for labels, value in vector.items():
                insert(result, drop_name(labels), func.apply(value, *at_step))
            out.append(result)
        return out

    def _aggregation(self, node: Aggregation) -> list[VectorValue]:
        ks: list[float | None] = [None] * len(self._steps)
        if node.param is not None:
            ks = list(self.scalar(node.param))
        keys: dict[Labels, Labels] = {}
        return [
            aggregate(node.op, vector, node.grouping, node.without, k, keys)
            for vector, k in zip(self.vector(node.expr), ks, strict=True)
        ]

    def _binary(self, node: Binary) -> list[VectorValue]:
        op, lhs, rhs = node.op, node.lhs, node.rhs
        if node.matching is not None:
            pairs = zip(self.vector(lhs), self.vector(rhs), strict=True)
            if op in SET_OPERATORS:
                return [set_op(op, a, b, node.matching) for a, b in pairs]
            return [vector_vector(op, a, b, node.matching, node.return_bool) for a, b in pairs]
        if lhs.type is ValueType.SCALAR:
            pairs = zip(self.vector(rhs), self.scalar(lhs), strict=True)
            return [vector_scalar(op, v, s, True, node.return_bool) for v, s in pairs]
        pairs = zip(self.vector(lhs), self.scalar(rhs), strict=True)
        return [vector_scalar(op, v, s, False, node.return_bool) for v, s in pairs]

    @staticmethod
    def _negate(vector: VectorValue) -> VectorValue:
        out: VectorValue = {}
        for labels, value in vector.items():
            insert(out, drop_name(labels), -value)
        return out
