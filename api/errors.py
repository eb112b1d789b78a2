"""The one place exceptions become HTTP responses: `{"error": <short>, "detail": <why>}`.

The original systems' routes keep their own error bodies (docs/originals.md), chosen by path:
- metrics-server (`/v1/metrics...`): `{"message": <its fixed sentence>, "error", "detail"}`;
- loopstock (`/v1/integers...`): `{"code": <its code>, "message": <why>}`;
- metricSys and the rest: ours, with `error` set to the original's sentence where it had one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from api.responses import JSONResponse
from api.schemas import LABEL_NAME
from cluster.common.errors import (
    ClusterError,
    InvalidInput,
    KeyReused,
    LimitReached,
    NotFound,
    Overloaded,
    StoreUnavailable,
    TooLarge,
)
from cluster.query import QueryError

log = logging.getLogger(__name__)

# Looked up along the exception's MRO, so a subclass inherits its base's status.
_STATUS: dict[type[ClusterError], tuple[int, str]] = {
    InvalidInput: (400, "Invalid Request"),
    TooLarge: (413, "Payload Too Large"),
    NotFound: (404, "not found"),
    LimitReached: (409, "Limit Reached"),
    KeyReused: (422, "Idempotency Key Reused"),
    Overloaded: (429, "Too Many Requests"),
    StoreUnavailable: (503, "Store Unavailable"),
    ClusterError: (400, "Bad Request"),
}


# The metrics-server's sentences by status, where the error did not bring its own.
_METRICS_SERVER = {
    400: "Invalid Payload. Please verify the request payload and try again.",
    404: "Resource Not Found",
}
_GENERIC_SERVER = (
    "Well, This is unexpected. An Error has occurred, and we are working to fix the problem!"
)
# Prometheus's errorType by status, where the error did not bring its own.
_PROMETHEUS = {400: "bad_data", 404: "not_found", 422: "execution", 503: "unavailable"}
# loopstock's codes by status, where the error did not bring its own.
_LOOPSTOCK = {
    400: "invalid_body",
    404: "not_found",
    409: "limit_reached",
    429: "overloaded",
    503: "unavailable",
}


def error_response(
    status: int,
    error: str,
    detail: str,
    headers: dict[str, str] | None = None,
    *,
    path: str = "",
    message: str | None = None,
    code: str | None = None,
) -> Response:
    if path.startswith("/v1/integers"):
        body: dict[str, str] = {
            "code": code or _LOOPSTOCK.get(status, error.lower().replace(" ", "_")),
            "message": detail,
        }
    elif path.startswith("/api/v1/") and not path.startswith("/api/v1/admin"):
        kind = code if code in ("bad_data", "execution") else _PROMETHEUS.get(status)
        kind = kind or ("bad_data" if status < 500 else "internal")  # 405, 413, 415: the client's
        body = {"status": "error", "errorType": kind, "error": detail}
    elif path.startswith("/v1/metrics"):
        text = message or _METRICS_SERVER.get(status, _GENERIC_SERVER)
        body = {"message": text, "error": error, "detail": detail}
    else:
        body = {"error": message or error, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


# Problems named in one answer; the rest are counted (a list of wrong items has thousands).
MAX_PROBLEMS = 10


def _in_words(err: Any) -> str:
    """A validation error's message, our patterns said in words."""
    if err["type"] != "string_pattern_mismatch":
        return err["msg"]
    pattern = err.get("ctx", {}).get("pattern", "")
    if pattern == LABEL_NAME:
        return "a label name is a letter or _, then letters, digits or _, and not __ first"
    message = "must not contain control characters (\\x00-\\x1f, \\x7f)"  # PRINTABLE, NAME
    return message + " or '/'" if "/" in pattern else message


def describe_validation(
    exc: ValidationError | RequestValidationError, where: Callable[[int], str] | None = None
) -> str:
    """One line per problem, naming the field, e.g. `labels.0: String should have ...`.
    `where`: what names the item at an index, before its field (`items.3.`, `line 4: `), for
    the errors of a list validated in pieces."""
    parts = []
    errors = exc.errors()
    for err in errors[:MAX_PROBLEMS]:
        loc = [p for p in err["loc"] if p != "body"]
        if where is not None and loc and isinstance(loc[0], int):
            field = (where(loc[0]) + ".".join(str(p) for p in loc[1:])).rstrip(".: ")
        else:
            field = ".".join(str(p) for p in loc) or "body"
        parts.append(f"{field}: {_in_words(err)}")
    if len(errors) > MAX_PROBLEMS:
        parts.append(f"and {len(errors) - MAX_PROBLEMS} more problems")
    return "; ".join(parts)


async def _cluster_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClusterError)
    status, error = next(_STATUS[c] for c in type(exc).__mro__ if c in _STATUS)
    if isinstance(exc, QueryError) and exc.error_type == "execution":
        status = 422  # as Prometheus answers a query that failed while evaluating
    headers = None
    if isinstance(exc, StoreUnavailable | Overloaded):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(
        status,
        error,
        exc.detail,
        headers,
        path=request.url.path,
        message=exc.message,
        code=exc.code,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError | ValidationError)
    detail = describe_validation(exc)
    return error_response(400, "Invalid Request", detail, path=request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail
    if detail == phrase:  # Starlette's routing gives no more than the phrase
        if exc.status_code == 404:
            detail = f"no such route: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers = {**(exc.headers or {}), "Allow": allowed}
            detail = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
            return error_response(405, phrase, detail, headers, path=request.url.path)
    return error_response(exc.status_code, phrase, str(detail), exc.headers, path=request.url.path)


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route accepts on this path (Starlette's Allow names only the first)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, "Internal Server Error", "unexpected error; see the node's log", path=request.url.path
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ClusterError, _cluster_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
