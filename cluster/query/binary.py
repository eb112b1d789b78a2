"""Binary operators on scalars and instant vectors: arithmetic, comparisons (filtering or
`bool`), one-to-one vector matching with `on`/`ignoring`, and the set operators."""

from __future__ import annotations

import operator
from collections.abc import Callable

from cluster.query.ast import ARITHMETIC, COMPARISONS, Matching
from cluster.query.errors import QueryError
from cluster.query.floatmath import divide, modulo, power
from cluster.query.labels import Labels, drop_name, keep, render, without

VectorValue = dict[Labels, float]

_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": divide,
    "%": modulo,
    "^": power,
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def scalar_op(op: str, lhs: float, rhs: float) -> float:
    """Two scalars; a comparison (always `bool` here) gives 1 or 0."""
    if op in COMPARISONS:
        return 1.0 if _COMPARE[op](lhs, rhs) else 0.0
    return _ARITHMETIC[op](lhs, rhs)


def insert(out: VectorValue, labels: Labels, value: float) -> None:
    """Adds a sample; two with one label set (say `a` and `b` of `abs({__name__=~"a|b"})`,
    their names dropped) make the expression fail, as in Prometheus."""
    if labels in out:
        raise QueryError(
            "vector cannot contain metrics with the same labelset", error_type="execution"
        )
    out[labels] = value


def vector_scalar(
    op: str, vector: VectorValue, scalar: float, scalar_left: bool, return_bool: bool
) -> VectorValue:
    """A vector and a scalar; a filtering comparison keeps the vector's value whatever side
    it is on, and only arithmetic and `bool` drop the metric name."""
    out: VectorValue = {}
    for labels, value in vector.items():
        lhs, rhs = (scalar, value) if scalar_left else (value, scalar)
        if op in ARITHMETIC:
            insert(out, drop_name(labels), _ARITHMETIC[op](lhs, rhs))
        elif return_bool:
            insert(out, drop_name(labels), 1.0 if _COMPARE[op](lhs, rhs) else 0.0)
        elif _COMPARE[op](lhs, rhs):
            insert(out, labels, value)
    return out


def _signature(matching: Matching) -> Callable[[Labels], Labels]:
    if matching.on:
        names = frozenset(matching.labels)
        return lambda labels: keep(labels, names)
    ignored = frozenset(matching.labels)
    return lambda labels: without(labels, ignored)


def vector_vector(
    op: str, lhs: VectorValue, rhs: VectorValue, matching: Matching, return_bool: bool
) -> VectorValue:
    """One-to-one matching: each left sample meets the right sample with its signature (the
    `on` labels, or all but the `ignoring` ones and the name); each side unique by it."""
    if not lhs or not rhs:
        return {}
    signature = _signature(matching)
    right: dict[Labels, tuple[Labels, float]] = {}
    for labels, value in rhs.items():
        sig = signature(labels)
        if sig in right:
            raise QueryError(
                f"found duplicate series for the match group {render(sig)} on the right "
                f"hand-side of the operation: [{render(labels)}, {render(right[sig][0])}];"
                "many-to-many matching not allowed: matching labels must be unique on one side",
                error_type="execution",
            )
        right[sig] = (labels, value)
    matched: set[Labels] = set()
    out: VectorValue = {}
    for labels, value in lhs.items():
        sig = signature(labels)
        if sig not in right:
            continue
        other = right[sig][1]
        if op in ARITHMETIC:
            result, kept = _ARITHMETIC[op](value, other), True
        else:
            kept = _COMPARE[op](value, other)
            result = (1.0 if kept else 0.0) if return_bool else value
            kept = kept or return_bool
        if not kept:
            continue
        if sig in matched:
            raise QueryError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)",
                error_type="execution",
            )
        matched.add(sig)
        insert(out, _result_labels(labels, op, matching, return_bool), result)
    return out


def _result_labels(labels: Labels, op: str, matching: Matching, return_bool: bool) -> Labels:
    if op in ARITHMETIC or return_bool:
        labels = drop_name(labels)
    if matching.on:
        return keep(labels, frozenset(matching.labels))
    ignored = frozenset(matching.labels)
    return tuple(pair for pair in labels if pair[0] not in ignored)


def set_op(op: str, lhs: VectorValue, rhs: VectorValue, matching: Matching) -> VectorValue:
    """`and`, `or`, `unless`: samples kept whole (names too), matched by signature."""
    signature = _signature(matching)
    if op == "or":
        left = {signature(labels) for labels in lhs}
        return lhs | {labels: v for labels, v in rhs.items() if signature(labels) not in left}
    right = {signature(labels) for labels in rhs}
    wanted = op == "and"
    return {labels: v for labels, v in lhs.items() if (signature(labels) in right) == wanted}
