"""Any text: parse and evaluate raise QueryError or answer, never anything else, and soon."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.query import QueryError, evaluate_instant, evaluate_range, parse
from tests.unit.query.conftest import storage

DATA = storage(
    *(
        ({"__name__": name, "job": job}, [(t * 15.0, float(t % 7 - 3)) for t in range(60)])
        for name in ("x", "y", "sum")
        for job in ("a", "b")
    )
)
VALID = [
    'sum by (job) (rate(x{job=~"a|b"}[5m] offset 1m))',
    "topk(2, x) + on(job) bottomk(1, y) or -x",
    "clamp_max(abs(x), time() / 100) > bool 2 ^ -1 ^ 0.5",
    "avg_over_time(y[10m]) unless ignoring(job) count(x) without (job)",
    '{__name__=~"x|q.*", job!="b"} % 0x10 >= 1e-3',
    "count_over_time(x[1h30m]) / max(y) * min(x) - 2 == Inf",
    "increase(x[2m]) and sum_over_time(y[1m] offset -30s) != NaN",
]
TOKENS = [
    "x",
    "y",
    "sum",
    "by",
    "without",
    "on",
    "ignoring",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "topk",
    "rate",
    "abs",
    "time",
    "clamp_min",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    "=",
    "!=",
    "=~",
    "!~",
    "==",
    ">",
    "<=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    ":",
    "'a'",
    '"j"',
    "`r`",
    "5m",
    "1h30m",
    "0ms",
    "1",
    "0x1F",
    "1e308",
    "Inf",
    "NaN",
    "-",
    "@",
    "#",
    "\\",
    "group_left",
    "job",
    "__name__",
    " ",
    "\n",
    "999999999y",
]
FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _run(text: str) -> None:
    try:
        expr = parse(text)
    except QueryError:
        return
    for evaluate in (
        lambda: evaluate_instant(expr, DATA, 600),
        lambda: evaluate_range(expr, DATA, 300, 900, 60),
    ):
        try:
            evaluate()
        except QueryError:
            pass


@FUZZ
@given(st.text(max_size=60))
def test_random_text(text: str) -> None:
    _run(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.sampled_from(["", " "]))
def test_token_soup(tokens: list[str], glue: str) -> None:
    _run(glue.join(tokens))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        edit = draw(st.sampled_from(["delete", "insert", "repeat", "replace"]))
        if edit == "delete":
            text = text[:i] + text[j:]
        elif edit == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif edit == "repeat":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + draw(st.text(max_size=3)) + text[j:]
    return text


@FUZZ
@given(mutated())
def test_mutations_of_valid_expressions(text: str) -> None:
    _run(text)


def test_the_valid_expressions_are_valid() -> None:
    # So that their mutations start from something that evaluates.
    for text in VALID:
        evaluate_range(parse(text), DATA, 300, 900, 60)
