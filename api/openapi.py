"""The OpenAPI document, told true for what FastAPI cannot see.

- `POST /metrics` and `POST /metrics/batch` are plain Starlette routes (api/routes/counters.py:
  FastAPI's per-request machinery was a measurable share of the hot path), so FastAPI does not
  describe them; their operations are added here from the same pydantic models that validate
  them, with every status they answer.
- The original systems' write routes read their raw body (they take one object or a list, and
  choose their own errors): their request bodies are declared here from their models.
- Every operation lists the error statuses the app answers, each with the body shape of its
  path (api/errors.py: ours, metrics-server's, loopstock's)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from api.deps import IDEMPOTENCY_KEY_PATTERN
from api.schemas import (
    BatchIn,
    ErrorOut,
    EventIn,
    HostIn,
    IncrementIn,
    IntegerIn,
    LoopstockErrorOut,
    MetricsServerErrorOut,
    SampleIn,
)

# The raw-body write routes: (path, method) -> (model, also a list of them).
_BODIES: dict[tuple[str, str], tuple[type[BaseModel], bool]] = {
    ("/v1/metrics", "post"): (SampleIn, True),
    ("/v1/hosts/metrics", "post"): (HostIn, True),
    ("/event", "post"): (EventIn, False),
    ("/v1/integers", "post"): (IntegerIn, False),
}
# Errors any route may answer (bad input, unknown names, limits, a busy or absent store).
_COMMON = {
    "400": "invalid input",
    "404": "not found",
    "405": "method not allowed",
    "409": "a limit would be passed",
    "413": "the body is over its limit",
    "415": "unsupported Content-Type",
    "422": "an Idempotency-Key reused for another request",
    "429": "too much is waiting; retry after Retry-After seconds",
    "503": "the store did not answer in time",
}
_ADMIN = {"401": "no bearer token", "403": "the admin API is off, or the token is wrong"}

_ERRORS = {
    "400": "invalid body (not JSON, a field out of range, an unknown field)",
    "409": "a counter would pass 2^63-1, or max_counters would be passed",
    "413": "the body or the batch is over its limit",
    "415": "Content-Type is not JSON",
    "422": "the Idempotency-Key was used for another request",
    "429": "too much is waiting; retry after Retry-After seconds",
    "503": "the store did not answer in time; applied fully or not at all",
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    models = (IncrementIn, BatchIn, ErrorOut, MetricsServerErrorOut, LoopstockErrorOut)
    for model in (*models, *(model for model, _ in _BODIES.values())):
        components.update(_schema_of(model))
    paths = schema["paths"]
    for (path, method), (model, many) in _BODIES.items():
        one = _ref(model.__name__)
        body = {"oneOf": [one, {"type": "array", "items": one, "minItems": 1}]} if many else one
        paths[path][method]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    for path, item in paths.items():
        for operation in item.values():
            errors = {**_COMMON, **(_ADMIN if path.startswith("/api/v1/admin") else {})}
            content = {"application/json": {"schema": _ref(_error_model(path))}}
            for status, why in errors.items():
                operation["responses"].setdefault(status, {"description": why, "content": content})
    paths.setdefault("/metrics", {})["post"] = _write(
        "increment",
        "Add `increment` to every label; each label's value right after this request.",
        {"application/json": "IncrementIn"},
    )
    paths.setdefault("/metrics/batch", {})["post"] = _write(
        "increment_batch",
        "Many increments, all applied or none: a JSON object of items, or NDJSON (one item a "
        "line). Each touched label's value right after this request.",
        {
            "application/json": "BatchIn",
            "application/x-ndjson": "IncrementIn",
        },
    )
    return schema


def _error_model(path: str) -> str:
    if path.startswith("/v1/integers"):
        return "LoopstockErrorOut"
    if path.startswith("/v1/metrics"):
        return "MetricsServerErrorOut"
    return "ErrorOut"


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    found = model.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = found.pop("$defs", {})
    return {**nested, model.__name__: found}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _write(operation: str, summary: str, bodies: dict[str, str]) -> dict[str, Any]:
    error = {"application/json": {"schema": _ref("ErrorOut")}}
    values = {"type": "object", "additionalProperties": {"type": "integer"}}
    return {
        "tags": ["counters"],
        "operationId": operation,
        "summary": summary,
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                "description": "a retry with the same key gets the first answer",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {media: {"schema": _ref(name)} for media, name in bodies.items()},
        },
        "responses": {
            "200": {
                "description": "applied: every touched label's value",
                "content": {"application/json": {"schema": values}},
            },
            **{status: {"description": why, "content": error} for status, why in _ERRORS.items()},
        },
    }
