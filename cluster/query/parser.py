"""Query text to AST: lark's LALR parser over promql.lark, then checks of types and
modifiers with Prometheus's rules and messages. Every failure is a QueryError."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import TypeVar

import lark
from lark import Token
from lark.visitors import Transformer_NonRecursive

from cluster.query.ast import (
    COMPARISONS,
    SET_OPERATORS,
    Aggregation,
    Binary,
    Call,
    Expr,
    Matching,
    MatrixSelector,
    Negation,
    NumberLiteral,
    StringLiteral,
    ValueType,
    VectorSelector,
)
from cluster.query.errors import Limits, QueryError
from cluster.query.functions import FUNCTIONS
from cluster.query.literals import LiteralError, parse_duration, parse_number, unquote
from cluster.query.matchers import Matcher, MatchOp, RegexError

T = TypeVar("T")
_GRAMMAR = lark.Lark(
    files("cluster.query").joinpath("promql.lark").read_text(),
    parser="lalr",
    lexer="contextual",
    maybe_placeholders=True,
)
_SUPPORTED_AGGREGATIONS = frozenset({"sum", "avg", "min", "max", "count", "topk", "bottomk"})
_PARAMETRIC = frozenset({"topk", "bottomk"})
# How lark's terminals read in a message: `unexpected ")"`, `unexpected identifier "foo"`.
_TOKEN_KINDS = {"METRIC_NAME": "identifier", "LABEL_NAME": "identifier", "NUMBER": "number"}
_TOKEN_KINDS |= {"DURATION": "duration"}


def parse(text: str, limits: Limits | None = None) -> Expr:
    """The AST of a PromQL expression (the subset docs/query.md lists)."""
    limits = limits or Limits()
    if len(text) > limits.max_length:
        raise QueryError(f"query is longer than {limits.max_length} characters")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            raise QueryError("query is not valid UTF-8", position=exc.start) from None
    try:
        tree = _GRAMMAR.parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    if _depth(tree) > limits.max_depth:
        raise QueryError(f"query nests more than {limits.max_depth} levels deep")
    try:
        expr = _ToAst(limits).transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, QueryError):
            raise exc.orig_exc from None
        raise
    return expr


def _depth(tree: lark.Tree) -> int:
    """How deep the parse tree nests (parentheses count), found without recursion: checks
    and evaluation recurse once per level, and 10,000 characters can nest deeper than
    Python's stack."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, lark.Tree))
    return deepest


def _syntax_error(exc: lark.exceptions.UnexpectedInput, text: str) -> QueryError:
    if isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type != "$END":
        token = exc.token
        kind = _TOKEN_KINDS.get(token.type)
        shown = f'{kind} "{token}"' if kind else f'"{token}"'
        if token.type == "STRING":  # already quoted
            shown = f"string {token}"
        return QueryError(f"unexpected {shown}", position=token.start_pos)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        char = text[exc.pos_in_stream]
        if char in "\"'`":
            return QueryError("unterminated quoted string", position=exc.pos_in_stream)
        return QueryError(f"unexpected character {char!r}", position=exc.pos_in_stream)
    return QueryError("unexpected end of input", position=len(text))


def _literal(token: Token, convert: Callable[[str], T]) -> T:
    try:
        return convert(str(token))
    except LiteralError as exc:
        raise QueryError(str(exc), position=token.start_pos) from None


def _expect(expr: Expr, wanted: ValueType, where: str) -> None:
    if expr.type is not wanted:
        raise QueryError(f"expected type {wanted} in {where}, got {expr.type}", position=expr.pos)


def _labels(items: Sequence[object]) -> tuple[str, ...]:
    return tuple(
        str(item) for item in items if isinstance(item, Token) and item.type == "LABEL_NAME"
    )


def _exprs(items: Sequence[object]) -> list[Expr]:
    return [item for item in items if isinstance(item, Expr)]


class _ToAst(Transformer_NonRecursive):
    """One method per grammar rule or alias, building nodes bottom-up."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self._limits = limits
        # `(x)[5m]` and `(x) offset 5m` are errors in Prometheus, but the AST keeps no parens.
        self._parenthesized: set[int] = set()

    def number(self, items: list[Token]) -> NumberLiteral:
        return NumberLiteral(_literal(items[0], parse_number), items[0].start_pos)

    def string(self, items: list[Token]) -> StringLiteral:
        return StringLiteral(_literal(items[0], unquote), items[0].start_pos)

    def paren(self, items: list[object]) -> Expr:
        self._parenthesized.add(id(items[1]))
        return items[1]

    def matcher(self, items: list[Token]) -> Matcher:
        name, op, value = items
        try:
            return Matcher.create(
                str(name), MatchOp(str(op)), _literal(value, unquote), self._limits.max_regex_length
            )
        except RegexError as exc:
            raise QueryError(str(exc), position=value.start_pos) from None

    def matchers(self, items: list[object]) -> tuple[Token, list[Matcher]]:
        return items[0], [item for item in items if isinstance(item, Matcher)]

    def selector(self, items: list[object]) -> VectorSelector:
        name = items[0] if isinstance(items[0], Token) else None
        brace, matchers = items[-1] if isinstance(items[-1], tuple) else (None, [])
        pos = (name or brace).start_pos
        if name is not None:
            for m in matchers:
                if m.name == "__name__":
                    raise QueryError(
                        f"metric name must not be set twice: {str(name)!r} or {m.value!r}",
                        position=pos,
                    )
            matchers.append(Matcher("__name__", MatchOp.EQUAL, str(name)))
        if all(m.matches("") for m in matchers):
            raise QueryError(
                "vector selector must contain at least one non-empty matcher", position=pos
            )
        return VectorSelector(str(name) if name else None, tuple(matchers), pos=pos)

    def range_of(self, items: list[object]) -> MatrixSelector:
        expr, bracket, duration = items[0], items[1], items[2]
        if not isinstance(expr, VectorSelector) or id(expr) in self._parenthesized:
            raise QueryError("ranges only allowed for vector selectors", position=bracket.start_pos)
        if expr.offset_ms:
            raise QueryError("no offset modifiers allowed before range", position=bracket.start_pos)
        range_ms = _literal(duration, parse_duration)
        if range_ms <= 0:
            raise QueryError("range must be greater than 0", position=duration.start_pos)
        return MatrixSelector(expr, range_ms, pos=expr.pos)

    def subquery(self, items: list[object]) -> Expr:
        raise QueryError("subqueries are not supported", position=items[1].start_pos)

    def offset_of(self, items: list[object]) -> VectorSelector | MatrixSelector:
        expr, keyword, minus, duration = items
        offset = _literal(duration, parse_duration) * (-1 if minus else 1)
        if id(expr) in self._parenthesized:
            expr = None  # falls through to the error below
        match expr:
            case VectorSelector(offset_ms=0):
                return VectorSelector(expr.name, expr.matchers, offset, expr.pos)
            case MatrixSelector(selector=VectorSelector(offset_ms=0) as inner):
                moved = VectorSelector(inner.name, inner.matchers, offset, inner.pos)
                return MatrixSelector(moved, expr.range_ms, expr.pos)
            case VectorSelector() | MatrixSelector():
                raise QueryError("offset may not be set multiple times", position=keyword.start_pos)
        raise QueryError(
            "offset modifier must be preceded by an instant vector selector or range vector "
            "selector",
            position=keyword.start_pos,
        )

    def call(self, items: list[object]) -> Call:
        name = items[0]
        func = FUNCTIONS.get(str(name))
        if func is None:
            raise QueryError(
                f"unknown or unsupported function {str(name)!r}", position=name.start_pos
            )
        args = _exprs(items[1:])
        if len(args) != len(func.arg_types):
            raise QueryError(
                f"expected {len(func.arg_types)} argument(s) in call to {str(name)!r}, "
                f"got {len(args)}",
                position=name.start_pos,
            )
        for arg, wanted in zip(args, func.arg_types, strict=True):
            _expect(arg, wanted, f"call to function {str(name)!r}")
        return Call(str(name), tuple(args), func.type, name.start_pos)

    def label_list(self, items: list[object]) -> tuple[str, ...]:
        return _labels(items)

    def grouping(self, items: list[object]) -> tuple[bool, tuple[str, ...]]:
        return items[0].type == "WITHOUT", items[1]

    def aggregation(self, items: list[object]) -> Aggregation:
        keyword = items[0]
        op = str(keyword).lower()
        if op not in _SUPPORTED_AGGREGATIONS:
            raise QueryError(f"aggregation {op!r} is not supported", position=keyword.start_pos)
        groupings = [item for item in items if isinstance(item, tuple)]
        without, grouping = groupings[0] if groupings else (False, ())
        args = _exprs(items[1:])
        wanted = 2 if op in _PARAMETRIC else 1
        if len(args) != wanted:
            raise QueryError(
                "wrong number of arguments for aggregate expression provided, "
                f"expected {wanted}, got {len(args)}",
                position=keyword.start_pos,
            )
        param = args[0] if op in _PARAMETRIC else None
        if param is not None:
            _expect(param, ValueType.SCALAR, "aggregation parameter")
        _expect(args[-1], ValueType.VECTOR, "aggregation expression")
        return Aggregation(op, args[-1], param, grouping, without, keyword.start_pos)

    def matching(self, items: list[object]) -> tuple[Token, Matching] | None:
        keyword, labels, group, _ = items
        if group is not None:
            raise QueryError(
                f"{str(group).lower()} (many-to-one matching) is not supported",
                position=group.start_pos,
            )
        if keyword is None:
            return None
        return keyword, Matching(on=keyword.type == "ON", labels=labels)

    def binary(self, items: list[object]) -> Expr:
        lhs, op, bool_token, matching, rhs = items
        return _binary(lhs, op, bool_token is not None, matching, rhs)

    def unary(self, items: list[object]) -> Expr:
        op, expr = items
        if expr.type not in (ValueType.SCALAR, ValueType.VECTOR):
            raise QueryError(
                "unary expression only allowed on expressions of type scalar or instant vector",
                position=op.start_pos,
            )
        if op.type == "PLUS":
            return expr
        if isinstance(expr, NumberLiteral):
            return NumberLiteral(-expr.value, op.start_pos)
        return Negation(expr, op.start_pos)


def _binary(
    lhs: Expr,
    op_token: Token,
    return_bool: bool,
    modifier: tuple[Token, Matching] | None,
    rhs: Expr,
) -> Binary:
    op = str(op_token).lower()
    pos = op_token.start_pos
    if return_bool and op not in COMPARISONS:
        raise QueryError("bool modifier can only be used on comparison operators", position=pos)
    for side in (lhs, rhs):
        if side.type not in (ValueType.SCALAR, ValueType.VECTOR):
            raise QueryError(
                "binary expression must contain only scalar and instant vector types",
                position=side.pos,
            )
    both_vectors = lhs.type is rhs.type is ValueType.VECTOR
    if op in SET_OPERATORS and not both_vectors:
        raise QueryError(
            f"set operator {op!r} not allowed in binary scalar expression", position=pos
        )
    if op in COMPARISONS and not return_bool and ValueType.VECTOR not in (lhs.type, rhs.type):
        raise QueryError("comparisons between scalars must use BOOL modifier", position=pos)
    matching = modifier[1] if modifier else Matching()
    if not both_vectors:
        if modifier and matching.labels:
            raise QueryError(
                "vector matching only allowed between instant vectors",
                position=modifier[0].start_pos,
            )
        return Binary(op, lhs, rhs, return_bool, None, pos)
    return Binary(op, lhs, rhs, return_bool, matching, pos)
