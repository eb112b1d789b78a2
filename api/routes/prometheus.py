"""Prometheus's HTTP API for queries, on every node: /api/v1/query, /api/v1/query_range,
/api/v1/series, /api/v1/labels, /api/v1/label/<name>/values, /api/v1/status/buildinfo.

Parameters come from the URL or, for POST, from a form body (application/x-www-form-urlencoded,
as Grafana and promtool send them). Answers are `{"status": "success", "data": ...}`; errors
`{"status": "error", "errorType": ..., "error": ...}` (api/errors.py)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request

from api import promql
from api.deps import NodeDep, read_limited
from api.responses import JSONResponse
from cluster.common.errors import InvalidInput
from cluster.query import QueryError

router = APIRouter(tags=["prometheus"])
MAX_FORM = 1 << 20
FORM = "application/x-www-form-urlencoded"
# The longest value of each parameter (the document states them; longer is 400). A time, an
# RFC 3339 one included, or a step is a few dozen characters; a query or selector may be long.
MAX_LENGTH = {"time": 64, "start": 64, "end": 64, "step": 64}
MAX_TEXT = 10_000
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class _Params:
    """A request's parameters, the URL's and a form body's together."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    @classmethod
    async def of(cls, request: Request) -> _Params:
        pairs = list(request.query_params.multi_items())
        if request.method == "POST":
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            body = await read_limited(request, MAX_FORM)  # 413 past it, before it is whole
            if body and media != FORM:
                raise InvalidInput(f"send the parameters as {FORM}, not {media or 'no type'}")
            try:
                pairs += parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
            except UnicodeDecodeError:
                raise InvalidInput("the form body is not UTF-8") from None
        return cls(pairs)

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        values = [value for key, value in self._pairs if key == name]
        longest = MAX_LENGTH.get(name, MAX_TEXT)
        if any(len(value) > longest for value in values):
            raise QueryError(f'invalid parameter "{name}": longer than {longest} characters')
        return values

    def query(self) -> str:
        text = self.get("query")
        if not text:
            raise QueryError('missing parameter "query"')
        return text


def _params(*names: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The document's parameters of a route that reads them itself (URL or form)."""
    listed = []
    for name in names:
        schema: dict[str, Any] = {"type": "string", "maxLength": MAX_LENGTH.get(name, MAX_TEXT)}
        if name == "match[]":
            schema = {"type": "array", "items": schema}
        listed.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    return {"parameters": listed}


_QUERY = _params("query", "time", required=("query",))
_RANGE = _params("query", "start", "end", "step", required=("query", "start", "end", "step"))
_SERIES = _params("match[]", "start", "end", required=("match[]",))
_LABELS = _params("match[]", "start", "end")


def _success(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


@router.get("/api/v1/query", openapi_extra=_QUERY)
@router.post("/api/v1/query", openapi_extra=_QUERY, operation_id="prometheus_query_post")
async def prometheus_query(request: Request, node: NodeDep) -> JSONResponse:
    """An instant query: `query`, `time` (RFC 3339 or unix seconds; default now)."""
    params = await _Params.of(request)
    at = params.get("time")
    when = promql.parse_time("time", at) if at else None
    return _success(await promql.instant(node, params.query(), when))


@router.get("/api/v1/query_range", openapi_extra=_RANGE)
@router.post(
    "/api/v1/query_range", openapi_extra=_RANGE, operation_id="prometheus_query_range_post"
)
async def prometheus_query_range(request: Request, node: NodeDep) -> JSONResponse:
    """A range query: `query`, `start`, `end`, `step` (seconds or a duration like 1m)."""
    params = await _Params.of(request)
    start = promql.parse_time("start", params.get("start"))
    end = promql.parse_time("end", params.get("end"))
    step = promql.parse_step(params.get("step"))
    return _success(await promql.ranged(node, params.query(), start, end, step))


@router.get("/api/v1/series", openapi_extra=_SERIES)
@router.post("/api/v1/series", openapi_extra=_SERIES, operation_id="prometheus_series_post")
async def prometheus_series(request: Request, node: NodeDep) -> JSONResponse:
    """The label sets of the series `match[]` selects (at least one selector)."""
    params = await _Params.of(request)
    match = params.all("match[]")
    if not match:
        raise QueryError("no match[] parameter provided")
    found = await promql.series_labels(node, match, params.get("start"), params.get("end"))
    return _success(found)


@router.get("/api/v1/labels", openapi_extra=_LABELS)
@router.post("/api/v1/labels", openapi_extra=_LABELS, operation_id="prometheus_labels_post")
async def prometheus_labels(request: Request, node: NodeDep) -> JSONResponse:
    """Every label name of the series `match[]` selects (all series without it)."""
    params = await _Params.of(request)
    match, start, end = params.all("match[]"), params.get("start"), params.get("end")
    return _success(await promql.label_values(node, None, match, start, end))


@router.get("/api/v1/label/{name}/values", openapi_extra=_LABELS)
@router.post(
    "/api/v1/label/{name}/values",
    openapi_extra=_LABELS,
    operation_id="prometheus_label_values_post",
)
async def prometheus_label_values(request: Request, name: str, node: NodeDep) -> JSONResponse:
    """Every value of the label `name` among the series `match[]` selects."""
    if not _LABEL_NAME.fullmatch(name):
        raise QueryError(f"invalid label name: {name[:200]!r}")
    params = await _Params.of(request)
    match, start, end = params.all("match[]"), params.get("start"), params.get("end")
    return _success(await promql.label_values(node, name, match, start, end))


@router.get("/api/v1/status/buildinfo")
async def prometheus_buildinfo() -> JSONResponse:
    """What Grafana asks to pick its features: the Prometheus version whose semantics we
    follow (docs/query.md lists the subset)."""
    return _success(
        {
            "version": "3.0.0",
            "revision": "metrics-cluster",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }
    )
