"""Aggregation operators over one instant vector: sum, avg, min, max, count, topk, bottomk."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence

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
_INT64_LIMIT = 2.0**63  # what Go's float64(math.MaxInt64) rounds to


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
