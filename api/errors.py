"""The one place exceptions become HTTP responses: `{"error": <short>, "detail": <why>}`."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from api.responses import JSONResponse
from cluster.errors import (
    ClusterError,
    InvalidInput,
    KeyReused,
    LimitReached,
    NotFound,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

# Looked up along the exception's MRO, so a subclass inherits its base's status.
_STATUS: dict[type[ClusterError], tuple[int, str]] = {
    InvalidInput: (400, "Invalid Request"),
    NotFound: (404, "not found"),
    LimitReached: (409, "Limit Reached"),
    KeyReused: (422, "Idempotency Key Reused"),
    StoreUnavailable: (503, "Store Unavailable"),
    ClusterError: (400, "Bad Request"),
}


def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def describe_validation(exc: ValidationError | RequestValidationError) -> str:
    """One line per problem, naming the field, e.g. `labels.0: String should have ...`."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
        message = err["msg"]
        if err["type"] == "string_pattern_mismatch":  # the only pattern: schemas.PRINTABLE
            message = "a label must not contain control characters (\\x00-\\x1f, \\x7f)"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


async def _cluster_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClusterError)
    status, error = next(_STATUS[c] for c in type(exc).__mro__ if c in _STATUS)
    headers = None
    if isinstance(exc, StoreUnavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(status, error, exc.detail, headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError | ValidationError)
    return error_response(400, "Invalid Request", describe_validation(exc))


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
            return error_response(405, phrase, detail, headers)
    return error_response(exc.status_code, phrase, str(detail), exc.headers)


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
    return error_response(500, "Internal Server Error", "unexpected error; see the node's log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ClusterError, _cluster_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
