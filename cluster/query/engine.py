"""Evaluation of a parsed expression over series read from a Storage, at one time (instant
query) or at every step of a range (range query), with Prometheus 3's semantics.

Each node is evaluated once for all steps: a scalar node gives one float a step, a vector
node one {labels: value} a step, or, for selectors, range functions and the aggregations over
them, columns (columns.StepValues) computed for every step at once. Windows are left-open,
(t - range, t]."""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from cluster.query.aggregate import COLUMN_OPS, aggregate, aggregate_columns
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
from cluster.query.columns import Layout, StepValues
from cluster.query.errors import Limits, QueryError
from cluster.query.functions import FUNCTIONS, ElementFunction, RangeFunction, Window
from cluster.query.labels import Labels, drop_name, from_mapping
from cluster.query.matchers import matches_all
from cluster.query.plan import DEFAULT_LOOKBACK, spans_ms, to_ms
from cluster.query.results import Matrix, Result, Sample, Scalar, SeriesPoints, String, Vector
from cluster.query.storage import Storage


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
    if _columnar(expr):
        columns = run.columns(expr)
        _check_points(int(columns.present.sum()), limits)
        found = columns.series(steps)
        return Matrix(tuple(SeriesPoints(labels, tuple(points)) for labels, points in found))
    series: dict[Labels, list[tuple[int, float]]] = {}
    total = 0
    for t, vector in zip(steps, run.vector(expr), strict=True):
        total += len(vector)
        _check_points(total, limits)
        for labels, value in vector.items():
            series.setdefault(labels, []).append((t, value))
    return Matrix(tuple(SeriesPoints(k, tuple(v)) for k, v in sorted(series.items())))


_TIME_LIMIT_MS = 2**62  # evaluation times and steps in ms, as int64 with room for offsets


def _time_ms(seconds: float, what: str) -> int:
    if not math.isfinite(seconds) or abs(seconds) * 1000 > _TIME_LIMIT_MS:
        raise QueryError(
            f"{what} must be a finite number of seconds within ±{_TIME_LIMIT_MS // 1000:,}, "
            f"not {seconds}"
        )
    return to_ms(seconds)


def _lookback_ms(lookback: float) -> int:
    if not math.isfinite(lookback) or lookback * 1000 > _TIME_LIMIT_MS or to_ms(lookback) <= 0:
        raise QueryError(
            f"lookback must be a positive number of seconds up to {_TIME_LIMIT_MS // 1000:,}, "
            f"not {lookback}"
        )
    return to_ms(lookback)


def _check_points(count: int, limits: Limits) -> None:
    if count > limits.max_points:
        raise QueryError(
            f"query would return more than {limits.max_points:,} points", error_type="execution"
        )


def _columnar(node: Expr) -> bool:
    """Whether `node` is computed as columns (_Evaluation.columns)."""
    match node:
        case VectorSelector():
            return True
        case Call(func=name):
            return isinstance(FUNCTIONS[name], RangeFunction)
        case Aggregation(op=op, expr=inner):
            # Over a selector or a range function only: their rows are in each step's order.
            return op in COLUMN_OPS and _columnar(inner) and not isinstance(inner, Aggregation)
    return False


class _Loaded:
    """A series as the engine reads it: times in ms (int64), parallel to values (float64)."""

    __slots__ = ("labels", "times", "values")

    def __init__(self, labels: Labels, times: np.ndarray, values: np.ndarray) -> None:
        self.labels = labels
        self.times = times
        self.values = values


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
        self._at = np.array(steps, dtype=np.int64)
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
        span = np.array((start, end), dtype=np.int64)
        for series in storage.select(selector.matchers, start, end):
            if not matches_all(selector.matchers, series.labels):
                continue
            times = np.asarray(series.times_ms, dtype=np.int64)
            values = np.asarray(series.values, dtype=np.float64)
            if not (len(times) and times[0] > start and times[-1] <= end):  # else all in span
                low, high = np.searchsorted(times, span, side="right")  # (start, end]
                times, values = times[low:high], values[low:high]
            if len(times):
                loaded.append(_Loaded(from_mapping(series.labels), times, values))
        return loaded

    def _layout(self, selector: VectorSelector) -> Layout:
        loaded = self._series[id(selector)]
        return Layout([one.times for one in loaded], [one.values for one in loaded])

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
        if _columnar(node):
            return self.columns(node).per_step()
        match node:
            case Call(func=name, args=args):
                func = FUNCTIONS[name]
                assert isinstance(func, ElementFunction)
                return self._element_function(func, args)
            case Aggregation():
                return self._aggregation(node)
            case Binary():
                return self._binary(node)
            case Negation(expr=inner):
                return [self._negate(vector) for vector in self.vector(inner)]
        raise AssertionError(f"not a vector node: {node!r}")

    def columns(self, node: Expr) -> StepValues:
        """A node for which _columnar holds, at every step."""
        match node:
            case VectorSelector():
                return self._selector(node)
            case Call(func=name, args=args):
                func = FUNCTIONS[name]
                assert isinstance(func, RangeFunction) and isinstance(args[0], MatrixSelector)
                return self._range_function(func, args[0])
            case Aggregation(op=op, expr=inner, grouping=grouping, without=without):
                return aggregate_columns(op, self.columns(inner), grouping, without)
        raise AssertionError(f"not a columnar node: {node!r}")

    def _selector(self, node: VectorSelector) -> StepValues:
        """The newest point of each series in (t - lookback, t] at each step t."""
        layout = self._layout(node)
        ends = self._at - node.offset_ms
        index = layout.search(ends, "right")
        has = index > layout.heads[:, None]
        last = np.where(has, index - 1, 0)
        present = has & (layout.times[last] > ends - self._lookback_ms)
        self._read(int(present.sum()))
        labels = [series.labels for series in self._series[id(node)]]
        return StepValues(labels, layout.values[last], present)

    def _windows(self, node: MatrixSelector, series: _Loaded) -> list[Window]:
        """The window of `series` at each step."""
        windows = []
        low = high = 0
        times, values = series.times.tolist(), series.values.tolist()
        for t in self._steps:
            end = t - node.selector.offset_ms
            start = end - node.range_ms
            low = bisect_right(times, start, low)
            high = bisect_right(times, end, high)
            self._read(high - low)
            windows.append(Window(times[low:high], values[low:high], start, end))
        return windows

    def _range_function(self, func: RangeFunction, node: MatrixSelector) -> StepValues:
        loaded = self._series[id(node.selector)]
        ends = self._at - node.selector.offset_ms
        if func.every_step is not None:
            layout = self._layout(node.selector)
            values, present, read = func.every_step(layout, ends - node.range_ms, ends)
            self._read(read)
        else:
            shape = (len(loaded), len(self._steps))
            found = [func.apply(window) for one in loaded for window in self._windows(node, one)]
            present = np.array([v is not None for v in found], dtype=bool).reshape(shape)
            values = np.array([0.0 if v is None else v for v in found]).reshape(shape)
        labels = [drop_name(series.labels) for series in loaded]
        producers: set[Labels] = set()
        # As Prometheus: two series that differ only by name clash even at other steps.
        for row_labels, produced in zip(labels, present.any(axis=1).tolist(), strict=True):
            if not produced:
                continue
            if row_labels in producers:
                raise QueryError(
                    "vector cannot contain metrics with the same labelset", error_type="execution"
                )
            producers.add(row_labels)
        return StepValues(labels, values, present)

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
