"""schemathesis hooks (loaded through schemathesis.toml at the repository's root): the rules the
OpenAPI document states in words because no JSON Schema can (api/openapi.py), applied to each
case just before it is sent, so a case the document allows is one the API takes. Each hook
changes only what its rule is about; schemathesis re-checks every changed case against the
schema, so a schema-violating case stays one.

- Integers are written as integers: JSON Schema 2020-12 calls `46.0` an integer, the API (like
  the original counter) refuses it.
- A timestamp is at most `max_future` ahead of the clock: one further ahead is moved back by
  whole multiples of four years (the same day of the year, leap days kept) to before now.
- An integer's timestamp falls in a window still open (`integer_window` + `integer_grace`,
  ~6 s), else it is `late_integer`: it is set to now.
- A range query's start is not after its end: the two are swapped.
- A URL fits the 64 KiB that uvicorn reads of a request's head: a query string longer (up to
  12 bytes a character, percent-encoded) has its longest values cut until it fits. Longer
  queries go in a POST's form body, which the document states in words."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote, urlencode

import schemathesis

from api.routes.samples import parse_moment
from cluster.common.errors import ClusterError
from cluster.common.timeutil import parse_rfc3339, rfc3339

RANGE = "/v1/metrics/{name}/{granularity}/{start}/{end}"
INTEGERS = "/v1/integers"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:  # noqa: ARG001
    if isinstance(case.body, dict | list):
        case.body = _plain(case.body)
        if case.operation.path == INTEGERS and isinstance(case.body, dict):
            if _timestamp(case.body.get("timestamp")) is not None:
                case.body["timestamp"] = rfc3339(time.time())
    if case.operation.path == RANGE and isinstance(case.path_parameters, dict):
        _ordered(case.path_parameters)
    if isinstance(case.query, dict):
        _fit_url(case.query)


URL_ROOM = 60_000  # bytes of query string: the head's 64 KiB less the rest of it


def _fit_url(query: dict[str, Any]) -> None:
    size = len(urlencode(query, doseq=True))
    while size > URL_ROOM:
        key, value = max(query.items(), key=lambda item: len(urlencode({0: item[1]}, doseq=True)))
        if isinstance(value, list):
            longest = max(range(len(value)), key=lambda i: len(str(value[i])))
            value[longest] = str(value[longest])[: len(str(value[longest])) // 2]
        else:
            query[key] = str(value)[: len(str(value)) // 2]
        smaller = len(urlencode(query, doseq=True))
        if smaller >= size:  # only empty values left: nothing more to cut
            return
        size = smaller


def _plain(value: Any, key: str = "") -> Any:
    """`value` with whole floats as integers and timestamps no later than now."""
    if isinstance(value, dict):
        return {k: _plain(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if key == "timestamp" and isinstance(value, str):
        return _not_ahead(value)
    return value


def _not_ahead(text: str) -> str:
    now = time.time()
    while (moment := _timestamp(text)) is not None and moment > now:
        year = int(text[:4])
        text = f"{year - 4 * max(1, (year - 2020) // 4):04d}{text[4:]}"
    return text


def _ordered(path: dict[str, Any]) -> None:
    start, end = path.get("start"), path.get("end")
    if not (isinstance(start, str) and isinstance(end, str)):
        return
    # By now the values are as they go in the URL: percent-encoded.
    first = _range_moment(unquote(start), end_of_day=False)
    last = _range_moment(unquote(end), end_of_day=True)
    if first is not None and last is not None and first > last:
        # Decoded: schemathesis checks the changed values against the schema as they are, and
        # a date's characters need no encoding in a path (a space is encoded when sent).
        path["start"], path["end"] = unquote(end), unquote(start)


def _timestamp(value: Any) -> float | None:
    try:
        return parse_rfc3339(value)
    except ClusterError:
        return None  # not a timestamp: left as it is


def _range_moment(text: str, end_of_day: bool) -> float | None:
    try:
        return parse_moment(text, "moment", end_of_day)
    except ClusterError:
        return None
