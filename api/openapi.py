"""The OpenAPI document, with the two write routes of the counters in it.

`POST /metrics` and `POST /metrics/batch` are plain Starlette routes (api/routes/counters.py:
FastAPI's per-request machinery was a measurable share of the hot path), so FastAPI does not
describe them; their operations are added here from the same pydantic models that validate
them, with every status they answer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from api.deps import IDEMPOTENCY_KEY_PATTERN
from api.schemas import BatchIn, ErrorOut, IncrementIn

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
    for model in (IncrementIn, BatchIn, ErrorOut):
        components.update(_schema_of(model))
    paths = schema["paths"]
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
