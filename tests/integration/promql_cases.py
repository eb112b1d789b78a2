"""Data and expressions for comparing cluster/query with Prometheus: random series shaped to
stay off the places where Prometheus 2.42 (the reference) and 3.x disagree by design, a fixed
list that touches every feature, and random expressions from the supported grammar."""

from __future__ import annotations

import random
from collections.abc import Callable

from scripts.reference_prometheus import SeriesData

BASE_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
STEP_MS = 15_000
POINTS = 481  # two hours
COUNTERS = ("http_requests_total", "jobs_done_total")
GAUGES = ("temperature", "queue_depth", "ratio")
LABEL_VALUES = {"job": ("api", "db", "web"), "instance": ("a:1", "b:2"), "env": ("prod",)}
RANGES = ("30s", "1m", "2m", "5m", "10m", "30m")
OFFSETS = ("", "", "", " offset 1m", " offset 5m", " offset -2m", " offset 10m")


def generate_series(rng: random.Random) -> list[SeriesData]:
    """Counters (some reset) and gauges. Every point is 100-400 ms past a whole second: no
    point sits on a window edge (whole seconds), where 2.42's closed windows and 3.x's
    left-open ones differ, and the spacing is even enough that 3.x's extrapolation cap
    (since 2.51) changes nothing. Gauges are multiples of 1/1024, so sums are exact and
    Kahan summation (since 2.54) changes nothing either."""
    series: list[SeriesData] = []
    for name in COUNTERS + GAUGES:
        combos = {
            tuple(sorted((k, rng.choice(v)) for k, v in LABEL_VALUES.items() if rng.random() < 0.8))
            for _ in range(8)
        }
        for combo in sorted(c for c in combos if c):
            partial = rng.random() < 0.3
            first, last = (
                (rng.randrange(160, 260), rng.randrange(330, 440)) if partial else (0, POINTS)
            )
            times = [BASE_MS + i * STEP_MS + rng.randrange(100, 400) for i in range(first, last)]
            values = (
                _counter(rng, len(times), resets=not partial)
                if name in COUNTERS
                else _gauge(rng, len(times), nan=name == "ratio" and combo == sorted(combos)[0])
            )
            series.append(
                ({"__name__": name, **dict(combo)}, list(zip(times, values, strict=True)))
            )
    return series


def _counter(rng: random.Random, count: int, resets: bool) -> list[float]:
    # A series starting inside a window has no reset and a large first value: 3.x's and
    # 2.42's extrapolation towards zero then agree (the zero point is far before the window).
    value = float(rng.randrange(1000, 5000))
    values = []
    for _ in range(count):
        value += rng.randrange(0, 21)
        if resets and rng.random() < 0.02:
            value = float(rng.randrange(100, 500))
        values.append(value)
    return values


def _gauge(rng: random.Random, count: int, nan: bool) -> list[float]:
    values = [rng.randrange(-1_024_000, 1_024_000) / 1024 for _ in range(count)]
    if nan:
        values = [float("nan") if rng.random() < 0.1 else v for v in values]
    return values


EDGE_MS = BASE_MS + 8_000_000  # after the random data, which no edge series shares a name with
EDGE_SERIES: list[SeriesData] = [
    ({"__name__": "edge_tie"}, [(EDGE_MS + i * 10_000, float(i)) for i in range(40)]),
    ({"__name__": "edge_lone"}, [(EDGE_MS, 1.0)]),
    (
        {"__name__": "edge_late_total"},
        [(EDGE_MS + 200_000 + i * 10_000, 8.0 + 10 * i) for i in range(5)],
    ),
    *(
        ({"__name__": "edge_kahan", "i": str(i)}, [(EDGE_MS, v)])
        for i, v in enumerate((1e100, 1.0, -1e100))
    ),
    ({"__name__": "edge_nl", "v": "a\nb"}, [(EDGE_MS, 1.0)]),
]
# Where 2.42 and 3.x differ by design, on the edge series: (query, seconds after EDGE_MS,
# our value (3.x), 2.42's value, why); None is an empty answer.
KNOWN_DIFFERENCES = [
    ("count_over_time(edge_tie[1m])", 300, 6.0, 7.0, "3.0: range windows are left-open"),
    ("sum(edge_lone)", 300, None, 1.0, "3.0: the lookback window is left-open"),
    ("increase(edge_late_total[5m])", 299, 50.0, 53.0, "2.51: extrapolation cap reordered"),
    ("sum(edge_kahan)", 1, 1.0, 0.0, "2.54: Kahan summation in sum"),
    ("avg(edge_kahan)", 1, 1 / 3, 0.0, "2.55: Kahan summation in avg"),
    ('count(edge_nl{v=~"a.b"})', 1, 1.0, None, "3.0: . in a regex matches a newline"),
]

FIXED = [
    # literals and scalars
    "1",
    "-2.5",
    "0x1F",
    "017",
    "1e3",
    "Inf",
    "-Inf",
    "NaN",
    ".5",
    "5.",
    "1.5e-3",
    "2 ^ 3 ^ 2",
    "-2 ^ 2",
    "(1 + 2) * 3 - 4 / 8",
    "7 % 3",
    "-7 % 3",
    "1 / 0",
    "-1 / 0",
    "0 / 0",
    "2 > bool 1",
    "1 == bool 1",
    "1 != bool 1",
    "time()",
    "time() - 60",
    "- time()",
    '"a string"',
    "'single'",
    "`raw`",
    # selectors
    "temperature",
    "queue_depth{job='api'}",
    'temperature{job!="api"}',
    'temperature{job=~"a.*|db"}',
    'temperature{job!~"a.*"}',
    '{__name__="temperature"}',
    '{__name__=~"temp.*|queue_depth", job="db"}',
    "temperature{env=''}",
    'temperature{env!=""}',
    "temperature offset 5m",
    "temperature offset -2m",
    "temperature{job='api'}[2m]",
    "http_requests_total[1m] offset 10m",
    "nothing_here",
    '{job=~".+"}',
    # range functions
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[1m])",
    "increase(http_requests_total[10m])",
    "increase(jobs_done_total[30m] offset 5m)",
    "rate(jobs_done_total[2m] offset -2m)",
    "sum_over_time(temperature[5m])",
    "avg_over_time(temperature[10m])",
    "min_over_time(ratio[5m])",
    "max_over_time(ratio[5m])",
    "count_over_time(queue_depth[2m])",
    "max_over_time(temperature[30s])",
    'rate({__name__=~"temperature|queue_depth"}[5m])',
    # element functions
    "abs(temperature)",
    "clamp_min(temperature, 0)",
    "clamp_max(temperature, -10)",
    "clamp_min(ratio, time() - 1700004000)",
    "abs(-queue_depth)",
    # aggregations
    "sum(temperature)",
    "sum by (job) (temperature)",
    "sum(temperature) by (job)",
    "avg without (instance) (queue_depth)",
    "min by (job, env) (temperature)",
    "max(ratio)",
    "min(ratio)",
    "count(temperature)",
    "count by (env) (temperature)",
    "topk(2, temperature)",
    "bottomk(1, temperature) ",
    "topk by (job) (1, queue_depth)",
    "bottomk without (instance) (2, temperature)",
    "topk(2.9, ratio)",
    "topk(0, temperature)",
    "topk(-1, temperature)",
    "topk(100, temperature)",
    "topk(NaN, temperature)",
    "sum by (__name__) ({__name__=~'temperature|queue_depth'})",
    "sum(rate(http_requests_total[5m])) by (job)",
    "count(count by (job) (temperature))",
    "sum by (nonexistent) (temperature)",
    # binary operators
    "temperature * 2",
    "2 * temperature",
    "temperature - -1",
    "temperature / 0",
    "temperature % 7",
    "temperature ^ 2",
    "temperature ^ 0.5",
    "100 - temperature",
    "temperature > 100",
    "100 < temperature",
    "temperature > bool 100",
    "100 > bool temperature",
    "temperature == temperature",
    "temperature != bool temperature",
    "temperature + temperature",
    "temperature - on(job, instance, env) temperature",
    "temperature + ignoring(env) temperature",
    "sum by (job) (temperature) / on(job) sum by (job) (queue_depth)",
    "sum by (job) (temperature) > on(job) sum by (job) (queue_depth)",
    "sum by (job) (temperature) >= bool on(job) sum by (job) (queue_depth)",
    "temperature + on(job) queue_depth",
    "temperature + on() queue_depth",
    "temperature and queue_depth",
    "temperature or queue_depth",
    "temperature unless queue_depth",
    "temperature and on(job) queue_depth{job='db'}",
    "temperature unless on(instance) ratio",
    "temperature or on(job) queue_depth",
    "nothing_here or temperature",
    "temperature and nothing_here",
    "temperature unless nothing_here",
    '-{__name__=~"temperature|queue_depth"}',
    '{__name__=~"temperature|queue_depth"} * 1',
    "temperature > 0 and temperature < 500 or queue_depth < -500",
    "rate(http_requests_total[5m]) * 60 > 5",
    "-temperature",
    "+temperature",
    "temperature offset 5m - temperature",
    # errors (both sides must refuse)
    "sum(",
    "temperature{",
    "rate(temperature)",
    "foo(temperature)",
    "1 > 2",
    "1 and 2",
    "temperature[5m] + 1",
    "sum(temperature[5m])",
    "topk(temperature, temperature)",
    "temperature{job=~'('}",
    "{}",
    '{job=~".*"}',
    "temperature offset 5m offset 1m",
    "sum(temperature) offset 1m",
    "temperature[0s]",
    "x{__name__='y'}",
    "rate(x[5m], 1)",
    "temperature + bool 1",
    "(temperature)[5m]",
    "temperature @",
]


class ExpressionMaker:
    """Random expressions of the supported grammar, shaped to be comparable: topk only over
    values without ties, vector matching mostly where one-to-one can hold."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def selector(self, names: tuple[str, ...]) -> str:
        rng = self.rng
        matchers = []
        for label in rng.sample(sorted(LABEL_VALUES), rng.randrange(0, 3)):
            op = rng.choice(("=", "!=", "=~", "!~"))
            value = rng.choice(LABEL_VALUES[label])
            if op in ("=~", "!~"):
                value = rng.choice((value[0] + ".*", value + "|db", ".+", "x|" + value))
            matchers.append(f'{label}{op}"{value}"')
        name = rng.choice(names)
        if rng.random() < 0.1:
            return "{" + ", ".join([f'__name__="{name}"', *matchers]) + "}"
        return name + ("{" + ", ".join(matchers) + "}" if matchers else "")

    def ranged(self, names: tuple[str, ...]) -> str:
        return f"{self.selector(names)}[{self.rng.choice(RANGES)}]{self.rng.choice(OFFSETS)}"

    def scalar(self, depth: int) -> str:
        rng = self.rng
        choice = rng.randrange(5 if depth > 0 else 2)
        if choice == 0:
            return rng.choice(("2", "0.5", "3", "-1", "1e3", "0x10", "100", "0"))
        if choice == 1:
            return "time()" if rng.random() < 0.3 else str(rng.randrange(-50, 50))
        if choice == 2:
            op = rng.choice(("+", "-", "*", "/", "%", "^"))
            return f"({self.scalar(depth - 1)} {op} {self.scalar(depth - 1)})"
        if choice == 3:
            return f"({self.scalar(depth - 1)} {rng.choice(('>', '<=', '=='))} bool 1)"
        return f"-{self.scalar(depth - 1)}"

    def vector(self, depth: int) -> str:
        rng = self.rng
        makers: list[Callable[[int], str]] = [self._selector, self._range_call]
        if depth > 0:
            makers += [self._element, self._aggregation, self._topk, self._with_scalar]
            makers += [self._matched, self._set, self._negation]
        return rng.choice(makers)(depth)

    def _selector(self, _depth: int) -> str:
        return self.selector(GAUGES + COUNTERS) + self.rng.choice(OFFSETS)

    def _range_call(self, _depth: int) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return f"{rng.choice(('rate', 'increase'))}({self.ranged(COUNTERS)})"
        func = rng.choice(("sum", "avg", "min", "max", "count"))
        return f"{func}_over_time({self.ranged(GAUGES + COUNTERS)})"

    def _element(self, depth: int) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            return f"abs({self.vector(depth - 1)})"
        return (
            f"{rng.choice(('clamp_min', 'clamp_max'))}({self.vector(depth - 1)}, {self.scalar(1)})"
        )

    def _grouping(self) -> str:
        labels = ", ".join(self.rng.sample(sorted(LABEL_VALUES), self.rng.randrange(0, 3)))
        return f"{self.rng.choice(('by', 'without'))} ({labels})"

    def _aggregation(self, depth: int) -> str:
        rng = self.rng
        op = rng.choice(("sum", "avg", "min", "max", "count"))
        if rng.random() < 0.5:
            return f"{op} {self._grouping()} ({self.vector(depth - 1)})"
        return f"{op}({self.vector(depth - 1)}) {self._grouping() if rng.random() < 0.7 else ''}"

    def _topk(self, _depth: int) -> str:
        rng = self.rng
        inner = (
            self.selector(GAUGES[:2]) if rng.random() < 0.6 else (f"rate({self.ranged(COUNTERS)})")
        )
        op = rng.choice(("topk", "bottomk"))
        return f"{op} {self._grouping()} ({rng.randrange(1, 4)}, {inner})"

    def _with_scalar(self, depth: int) -> str:
        rng = self.rng
        op = rng.choice(("+", "-", "*", "/", "%", "^", ">", "<", ">=", "<=", "==", "!="))
        modifier = (
            " bool" if op in (">", "<", ">=", "<=", "==", "!=") and rng.random() < 0.5 else ""
        )
        if rng.random() < 0.5:
            return f"({self.vector(depth - 1)} {op}{modifier} {self.scalar(1)})"
        return f"({self.scalar(1)} {op}{modifier} {self.vector(depth - 1)})"

    def _matched(self, depth: int) -> str:
        rng = self.rng
        op = rng.choice(("+", "-", "*", "/", ">", "<", "==", "!="))
        modifier = " bool" if op in (">", "<", "==", "!=") and rng.random() < 0.5 else ""
        grouping = rng.sample(sorted(LABEL_VALUES), rng.randrange(1, 3))
        labels = ", ".join(grouping)
        if rng.random() < 0.6:
            side = f"sum by ({labels}) ({{}})"
            lhs, rhs = (side.format(self.vector(depth - 1)) for _ in range(2))
            return f"({lhs} {op}{modifier} on({labels}) {rhs})"
        name = rng.choice(GAUGES)
        return (
            f"({name} {op}{modifier} ignoring({labels}) {rng.choice(GAUGES)}{rng.choice(OFFSETS)})"
        )

    def _set(self, depth: int) -> str:
        rng = self.rng
        op = rng.choice(("and", "or", "unless"))
        matching = rng.choice(("", "on(job) ", "ignoring(instance) ", "on() "))
        return f"({self.vector(depth - 1)} {op} {matching}{self.vector(depth - 1)})"

    def _negation(self, depth: int) -> str:
        return f"-{self.vector(depth - 1)}"
