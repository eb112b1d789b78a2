"""Aggregation operators: sum, avg, min, max, count, topk, bottomk over one instant vector
(`aggregate`), and the first five over a vector at every step at once (`aggregate_columns`,
numpy), which adds each group's members in the same order with the same operations, so the two
give the same floats."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence

import numpy as np

from cluster.query.columns import StepValues
from cluster.query.errors import QueryError
from cluster.query.floatmath import kahan_mean, kahan_sum, max_of, min_of
from cluster.query.labels import Labels, keep, without

VectorValue = dict[Labels, float]

_REDUCERS: dict[str, Callable[[Sequence[float]], float]] = {
    "sum": kahan_sum,
    "avg": kahan_mean,
    "min": min_of,
    "max": max_of,
    "count": lambda values: float(len(values)),
}
COLUMN_OPS = frozenset(_REDUCERS)  # what aggregate_columns computes
_INT64_LIMIT = 2.0**63
# A numpy pass a member of the largest group costs about what this many samples cost through
# `aggregate` (~10 us against ~0.7 us, measured): with fewer steps, dicts a step are cheaper.
_PASS_COST = 16  # what Go's float64(math.MaxInt64) rounds to


def aggregate(
    op: str,
    vector: VectorValue,
    grouping: tuple[str, ...],
    without_labels: bool,
    k: float | None,
    keys: dict[Labels, Labels] | None = None,
) -> VectorValue:
    """The aggregation of `vector` per group. A group is named by its `by` labels, or by all
    but the `without` ones and the metric name; topk and bottomk keep whole samples. `keys`:
    each label set's group, remembered across the steps of one range query."""
    names = frozenset(grouping)
    keys = {} if keys is None else keys
    groups: dict[Labels, list[tuple[Labels, float]]] = {}
    for labels, value in vector.items():
        key = keys.get(labels)
        if key is None:
            key = keys[labels] = without(labels, names) if without_labels else keep(labels, names)
        groups.setdefault(key, []).append((labels, value))
    if op in _REDUCERS:
        reduce = _REDUCERS[op]
        return {key: reduce([value for _, value in members]) for key, members in groups.items()}
    assert k is not None  # the parser gives topk and bottomk their parameter
    return _select_k(op, groups, k)


def _select_k(op: str, groups: dict[Labels, list[tuple[Labels, float]]], k: float) -> VectorValue:
    if not -_INT64_LIMIT <= k < _INT64_LIMIT:  # NaN fails too
        raise QueryError(f"scalar value {k} overflows int64", error_type="execution")
    count = int(k)
    out: VectorValue = {}
    if count < 1:
        return out
    sign = 1.0 if op == "topk" else -1.0
    for members in groups.values():
        # NaN ranks last for both topk and bottomk, as in Prometheus.
        ranked = heapq.nlargest(
            count,
            members,
            key=lambda member: (not math.isnan(member[1]), sign * member[1]),
        )
        out.update(ranked)
    return out


def aggregate_columns(
    op: str, vector: StepValues, grouping: tuple[str, ...], without_labels: bool
) -> StepValues:
    """`aggregate` at every step of `vector` (in row order: no `rank`) at once, for the ops of
    COLUMN_OPS. The groups go member by member: the j-th member of every group that has one is
    added in one numpy operation, so the work is one operation a member of the largest group;
    where that costs more than a dict a step, it goes a step at a time."""
    assert vector.rank is None  # members are added in row order
    names = frozenset(grouping)
    groups: dict[Labels, list[int]] = {}
    for row, labels in enumerate(vector.labels):
        key = without(labels, names) if without_labels else keep(labels, names)
        groups.setdefault(key, []).append(row)
    largest = max((len(rows) for rows in groups.values()), default=0)
    if largest * _PASS_COST > vector.values.size:
        cache: dict[Labels, Labels] = {}
        steps = vector.per_step()
        return StepValues.of_steps(
            [aggregate(op, one, grouping, without_labels, None, cache) for one in steps]
        )
    keys = list(groups)
    order = sorted(range(len(keys)), key=lambda g: -len(groups[keys[g]]))  # largest first
    members = [groups[keys[g]] for g in order]
    shape = (len(keys), vector.values.shape[1])
    reduced = _Reduction(op, shape)
    with np.errstate(all="ignore"):  # inf - inf and the like, as Python's floats give them
        width = len(members)
        for j in range(len(members[0]) if members else 0):
            while len(members[width - 1]) <= j:
                width -= 1
            rows = [group[j] for group in members[:width]]
            reduced.add(width, rows, vector.values[rows], vector.present[rows])
        values = reduced.result()
    for g, s in zip(*np.nonzero(reduced.overflowed), strict=True):  # rare: as aggregate does
        there = [row for row in members[g] if vector.present[row, s]]
        values[g, s] = kahan_mean([float(vector.values[row, s]) for row in there])
    unsorted, present, rank = (
        np.empty_like(values),
        np.empty(shape, dtype=bool),
        np.empty_like(reduced.first),
    )
    unsorted[order], present[order], rank[order] = values, reduced.count > 0, reduced.first
    return StepValues(keys, unsorted, present, rank)


class _Reduction:
    """The running state of one aggregation over groups (rows) and steps (columns); `add`
    takes the next member of the first `width` groups, with whether it is there each step."""

    def __init__(self, op: str, shape: tuple[int, int]) -> None:
        self._op = op
        self.count = np.zeros(shape, dtype=np.int64)
        self._total = np.zeros(shape)  # sum and avg: Neumaier's sum, as floatmath.kahan_add
        self._compensation = np.zeros(shape)
        self._best = np.zeros(shape)  # min and max
        # avg: cells whose sum overflowed, where Prometheus moves to an incremental mean
        self.overflowed = np.zeros(shape, dtype=bool)
        self.first = np.zeros(shape, dtype=np.int64)  # the row of each cell's first member

    def add(self, width: int, rows: list[int], value: np.ndarray, there: np.ndarray) -> None:
        seen = self.count[:width] > 0
        self.count[:width] += there
        starts = there & ~seen
        self.first[:width] = np.where(starts, np.array(rows)[:, None], self.first[:width])
        if self._op in ("min", "max"):
            best = self._best[:width]
            better = value < best if self._op == "min" else value > best
            take = there & (~seen | better | np.isnan(best))
            self._best[:width] = np.where(take, value, best)
        elif self._op in ("sum", "avg"):
            total, compensation = self._total[:width], self._compensation[:width]
            new = total + value
            big = np.abs(total) >= np.abs(value)
            step = np.where(big, (total - new) + value, (value - new) + total)
            infinite = np.isinf(new)
            self._total[:width] = np.where(there, new, total)
            added = np.where(infinite, 0.0, compensation + step)
            self._compensation[:width] = np.where(there, added, compensation)
            if self._op == "avg":
                self.overflowed[:width] |= there & seen & infinite

    def result(self) -> np.ndarray:
        total, compensation, count = self._total, self._compensation, self.count
        match self._op:
            case "sum":
                return np.where(np.isinf(total), total, total + compensation)
            case "avg":
                return total / count + compensation / count
            case "count":
                return count.astype(np.float64)
        return self._best
