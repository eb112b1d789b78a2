"""PromQL (a subset, Prometheus 3 semantics) over series a Storage provides; no I/O, no Ray
(numpy for what is computed for every step at once). docs/query.md lists what is supported.

    expr = parse('sum by (job) (rate(http_requests_total[5m]))')
    spans = selector_spans(expr, start, end)      # what to fetch, for one snapshot
    result = evaluate_range(expr, storage, start, end, step)
    api_data(result)                              # Prometheus's JSON shape
"""

from cluster.query.engine import evaluate_instant, evaluate_range
from cluster.query.errors import Limits, QueryError
from cluster.query.matchers import Matcher, MatchOp, matches_all
from cluster.query.output import api_data, format_time, format_value
from cluster.query.parser import parse
from cluster.query.plan import DEFAULT_LOOKBACK, SelectorSpan, selector_spans
from cluster.query.results import Matrix, Result, Sample, Scalar, SeriesPoints, String, Vector
from cluster.query.storage import MemoryStorage, Series, Storage

__all__ = [
    "DEFAULT_LOOKBACK",
    "Limits",
    "Matcher",
    "MatchOp",
    "Matrix",
    "MemoryStorage",
    "QueryError",
    "Result",
    "Sample",
    "Scalar",
    "SelectorSpan",
    "Series",
    "SeriesPoints",
    "Storage",
    "String",
    "Vector",
    "api_data",
    "evaluate_instant",
    "evaluate_range",
    "format_time",
    "format_value",
    "matches_all",
    "parse",
    "selector_spans",
]
