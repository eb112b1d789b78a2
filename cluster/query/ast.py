"""The parsed expression: small frozen nodes. Positions (0-based offsets into the query text)
serve error messages only, so two parses of equal text compare equal whatever the spacing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from cluster.query.matchers import Matcher


class ValueType(StrEnum):
    SCALAR = "scalar"
    VECTOR = "instant vector"
    MATRIX = "range vector"
    STRING = "string"


ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^"})
COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True)
class NumberLiteral:
    value: float
    pos: int = field(default=0, compare=False)
    type = ValueType.SCALAR


@dataclass(frozen=True)
class StringLiteral:
    value: str
    pos: int = field(default=0, compare=False)
    type = ValueType.STRING


@dataclass(frozen=True)
class VectorSelector:
    """`name{matchers} offset d`; a metric name is also among `matchers` (`__name__="name"`)."""

    name: str | None
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    pos: int = field(default=0, compare=False)
    type = ValueType.VECTOR


@dataclass(frozen=True)
class MatrixSelector:
    """`selector[range]`; its offset is the inner selector's."""

    selector: VectorSelector
    range_ms: int
    pos: int = field(default=0, compare=False)
    type = ValueType.MATRIX


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    type: ValueType
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Aggregation:
    """`op by|without (grouping) ([param,] expr)`; `param` only for topk and bottomk."""

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False
    pos: int = field(default=0, compare=False)
    type = ValueType.VECTOR


@dataclass(frozen=True)
class Matching:
    """`on (labels)` or `ignoring (labels)`; no modifier is `ignoring ()`."""

    on: bool = False
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Binary:
    """`lhs op lhs`; `matching` is set exactly when both sides are instant vectors."""

    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: Matching | None = None
    pos: int = field(default=0, compare=False)

    @property
    def type(self) -> ValueType:
        if ValueType.VECTOR in (self.lhs.type, self.rhs.type):
            return ValueType.VECTOR
        return ValueType.SCALAR


@dataclass(frozen=True)
class Negation:
    """Unary minus of a vector or a non-literal scalar (`-1` is folded to a literal)."""

    expr: Expr
    pos: int = field(default=0, compare=False)

    @property
    def type(self) -> ValueType:
        return self.expr.type


Expr = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | Call
    | Aggregation
    | Binary
    | Negation
)


def children(node: Expr) -> tuple[Expr, ...]:
    match node:
        case MatrixSelector(selector=selector):
            return (selector,)
        case Call(args=args):
            return args
        case Aggregation(expr=expr, param=param):
            return (expr,) if param is None else (param, expr)
        case Binary(lhs=lhs, rhs=rhs):
            return (lhs, rhs)
        case Negation(expr=expr):
            return (expr,)
    return ()


def walk(node: Expr) -> Iterator[tuple[Expr, int]]:
    """Every node under `node` with its depth (`node` itself is at 1), without recursion:
    a query of 10,000 characters may nest deeper than Python's stack."""
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        yield current, depth
        stack.extend((child, depth + 1) for child in reversed(children(current)))
