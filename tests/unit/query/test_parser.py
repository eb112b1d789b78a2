"""parse(): the grammar, Prometheus's precedence and literals, and its checks and messages."""

from __future__ import annotations

import math

import pytest

from cluster.query import Limits, MatchOp, QueryError, parse
from cluster.query.ast import (
    Aggregation,
    Binary,
    Call,
    MatrixSelector,
    Negation,
    NumberLiteral,
    StringLiteral,
    VectorSelector,
)


def _number(text: str) -> float:
    expr = parse(text)
    assert isinstance(expr, NumberLiteral)
    return expr.value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1.5E-3", 0.0015),
        ("0x1F", 31.0),
        ("0XfF", 255.0),
        ("017", 15.0),  # octal, as Go's ParseInt with base 0 reads it
        ("019", 19.0),
        ("Inf", math.inf),
        ("-inf", -math.inf),
        ("+INF", math.inf),
        ("-1", -1.0),
        ("- - 2", 2.0),
    ],
)
def test_numbers(text: str, value: float) -> None:
    assert _number(text) == value


def test_nan_in_any_case() -> None:
    assert math.isnan(_number("NaN")) and math.isnan(_number("nan"))


@pytest.mark.parametrize("text", ["1e400", "0xFFFFFFFFFFFFFFFFFFFF"])
def test_numbers_out_of_range(text: str) -> None:
    with pytest.raises(QueryError, match="out of range"):
        parse(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"a\\nb"', "a\nb"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'a\"b'", 'a"b'),
        ("`raw\\n`", "raw\\n"),
        ('"\\x41\\101\\u00e9\\U0001F600"', "AAé😀"),
        ('"\\xc3\\xa9"', "é"),  # bytes that form UTF-8
    ],
)
def test_strings(text: str, value: str) -> None:
    expr = parse(text)
    assert isinstance(expr, StringLiteral) and expr.value == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"\\q"', "unknown escape"),
        ('"\\\'"', "unknown escape"),  # \' only inside single quotes
        ('"\\xff"', "valid UTF-8"),
        ('"\\ud800"', "code point"),
        ('"\\400"', "octal"),
        ('"abc', "unterminated quoted string at char 1"),
        ('"a\nb"', "unterminated"),
    ],
)
def test_bad_strings(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse(text)


@pytest.mark.parametrize(
    ("duration", "ms"),
    [
        ("500ms", 500),
        ("10s", 10_000),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("1d", 86_400_000),
        ("1w", 604_800_000),
        ("1y", 31_536_000_000),
        ("1h1m1s1ms", 3_661_001),
    ],
)
def test_durations(duration: str, ms: int) -> None:
    expr = parse(f"x[{duration}]")
    assert isinstance(expr, MatrixSelector) and expr.range_ms == ms


@pytest.mark.parametrize("text", ["x[30m1h]", "x[1m1m]", "x[0s]", "x[300y]", "x[5]"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(QueryError):
        parse(text)


def test_selector_matchers() -> None:
    expr = parse('x{a="1", b!="2", c=~"3.*", d!~"4",}')
    assert isinstance(expr, VectorSelector) and expr.name == "x"
    ops = [(m.name, m.op) for m in expr.matchers]
    assert ops == [
        ("a", MatchOp.EQUAL),
        ("b", MatchOp.NOT_EQUAL),
        ("c", MatchOp.REGEX),
        ("d", MatchOp.NOT_REGEX),
        ("__name__", MatchOp.EQUAL),
    ]


def test_regexes_are_anchored_re2_with_dot_matching_newline() -> None:
    (matcher,) = parse('{a=~"b|c.d"}').matchers
    assert matcher.matches("b") and matcher.matches("c\nd")
    assert not matcher.matches("ab") and not matcher.matches("bc")


@pytest.mark.parametrize("pattern", ["(", "(a)\\\\1", "(?=a)", "a{1001}", "a)|(b"])
def test_patterns_re2_refuses_are_parse_errors(pattern: str) -> None:
    with pytest.raises(QueryError, match="invalid regex") as caught:
        parse(f'x{{a=~"{pattern}"}}')
    assert caught.value.position == 5


def test_regex_length_is_bounded() -> None:
    with pytest.raises(QueryError, match="longer than 10 characters"):
        parse('x{a=~"aaaaaaaaaaa"}', Limits(max_regex_length=10))
    parse('x{a=~"aaaaaaaaaa"}', Limits(max_regex_length=10))


def test_keywords_are_names_where_no_keyword_fits() -> None:
    expr = parse('sum by (on, by) (offset{bool="1", and="2"})')
    assert isinstance(expr, Aggregation) and expr.grouping == ("on", "by")
    assert isinstance(expr.expr, VectorSelector) and expr.expr.name == "offset"
    assert parse("summary").name == "summary"  # a keyword only as a whole word
    assert parse("job:rate5m").name == "job:rate5m"


def test_keywords_ignore_case() -> None:
    assert parse("SUM BY (a) (x) AND ON (a) y") == parse("sum by (a) (x) and on (a) y")


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("sum(x) by (a)", "sum by (a) (x)"),
        ("a + b * c", "a + (b * c)"),
        ("a - b - c", "(a - b) - c"),
        ("a ^ b ^ c", "a ^ (b ^ c)"),  # right-associative
        ("-a ^ b", "-(a ^ b)"),
        ("a / -b", "a / (-b)"),
        ("a or b and c", "a or (b and c)"),
        ("a and b unless c", "(a and b) unless c"),
        ("a > b + c", "a > (b + c)"),
        ("a == b or c", "(a == b) or c"),
        ("a + b offset 5m", "a + (b offset 5m)"),
        ("x # comment\n + y", "x + y"),
        ("+x", "x"),
    ],
)
def test_precedence(text: str, same_as: str) -> None:
    assert parse(text) == parse(same_as)


def test_offsets() -> None:
    assert parse("x offset 5m").offset_ms == 300_000
    assert parse("x offset -1h").offset_ms == -3_600_000
    expr = parse("x[1m] offset 30s")
    assert isinstance(expr, MatrixSelector) and expr.selector.offset_ms == 30_000


def test_binary_modifiers() -> None:
    expr = parse("a > bool on(x, y) b")
    assert isinstance(expr, Binary) and expr.return_bool
    assert expr.matching is not None and expr.matching.on and expr.matching.labels == ("x", "y")
    plain = parse("a + ignoring(z) b")
    assert isinstance(plain, Binary) and plain.matching is not None
    assert not plain.matching.on and plain.matching.labels == ("z",)
    assert parse("a + 1").matching is None  # matching is between vectors only


def test_negation_of_a_vector_and_calls() -> None:
    assert isinstance(parse("-x"), Negation)
    call = parse("clamp_min(rate(x[5m]), time())")
    assert isinstance(call, Call) and call.func == "clamp_min"
    assert isinstance(call.args[0], Call) and call.args[1] == Call("time", (), call.args[1].type)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sum(x))", 'unexpected ")" at char 7'),
        ("sum", "unexpected end of input at char 4"),
        ("x @ 5", "unexpected character '@' at char 3"),
        ("x y", 'unexpected identifier "y" at char 3'),
        ("5m", 'unexpected duration "5m" at char 1'),
        ("foo(x)", "unknown or unsupported function 'foo' at char 1"),
        ("irate(x[5m])", "unknown or unsupported function 'irate'"),
        ("rate(x)", "expected type range vector in call to function 'rate', got instant vector"),
        ("abs(x[5m])", "expected type instant vector in call to function 'abs'"),
        ("clamp_min(x, x)", "expected type scalar in call to function 'clamp_min'"),
        ("rate(x[5m], 1)", "expected 1 argument(s) in call to 'rate', got 2"),
        ("time(1)", "expected 0 argument(s)"),
        ("stddev(x)", "aggregation 'stddev' is not supported"),
        ("topk(x)", "expected 2, got 1"),
        ("sum(1, x)", "expected 1, got 2"),
        ("topk(x, y)", "expected type scalar in aggregation parameter"),
        ("sum(x[5m])", "expected type instant vector in aggregation expression"),
        ("1 > 2", "comparisons between scalars must use BOOL modifier"),
        ("x + bool 1", "bool modifier can only be used on comparison operators"),
        ("1 and 2", "set operator 'and' not allowed in binary scalar expression"),
        ("x and 1", "set operator 'and' not allowed"),
        ("x + on(a) 1", "vector matching only allowed between instant vectors"),
        ("x[5m] + 1", "binary expression must contain only scalar and instant vector types"),
        ('-"a"', "unary expression only allowed"),
        ("a + on(b) group_left c", "group_left (many-to-one matching) is not supported"),
        ("a * ignoring(b) group_right(c) c", "group_right"),
        ("x[5m:1m]", "subqueries are not supported"),
        ("{}", "at least one non-empty matcher"),
        ('{a=~".*", b=""}', "at least one non-empty matcher"),
        ('x{__name__="y"}', "metric name must not be set twice"),
        ("x offset 5m offset 1m", "offset may not be set multiple times"),
        ("x offset 1m [5m]", "no offset modifiers allowed before range"),
        ("sum(x) offset 1m", "offset modifier must be preceded by"),
        ("(x) offset 1m", "offset modifier must be preceded by"),
        ("(x)[5m]", "ranges only allowed for vector selectors"),
        ("rate(x[5m])[5m]", "ranges only allowed for vector selectors"),
    ],
)
def test_errors_name_the_problem_and_where(text: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert caught.value.error_type == "bad_data"


def test_error_positions_are_offsets() -> None:
    with pytest.raises(QueryError) as caught:
        parse("sum(x))")
    assert caught.value.position == 6


def test_query_length_is_bounded() -> None:
    with pytest.raises(QueryError, match="longer than 10000 characters"):
        parse("x" * 10_001)
    assert parse("x" * 10_000).name == "x" * 10_000


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(QueryError, match="nests more than 100"):
        parse("-" * 2_000 + "x")
    with pytest.raises(QueryError, match="nests more than 100"):
        parse("(" * 3_000 + "x" + ")" * 3_000)
    with pytest.raises(QueryError, match="nests more than 100"):
        parse(" + ".join(["x"] * 200))
    assert parse(" + ".join(["x"] * 90)).type == "instant vector"


def test_text_that_is_not_utf8() -> None:
    with pytest.raises(QueryError, match="not valid UTF-8"):
        parse('x{a="\ud800"}')


def test_equal_text_equal_ast_whatever_the_spacing() -> None:
    assert parse("sum  by(a)(rate(x[5m]))") == parse("sum by (a) (rate(x [5m]))")
    assert parse("a + b") != parse("a - b")
