"""The OpenAPI document, told true for what FastAPI cannot see.

- `POST /metrics` and `POST /metrics/batch` are plain Starlette routes (api/routes/counters.py:
  FastAPI's per-request machinery was a measurable share of the hot path), so FastAPI does not
  describe them; their operations are added here from the same pydantic models that validate
  them.
- The original systems' write routes read their raw body (they take one object or a list, and
  choose their own errors): their request bodies are declared here from their models, with the
  list bounds of the settings, and the `Idempotency-Key` header every write route reads.
- Each operation lists exactly the error statuses it may answer (`ERRORS`: a new route without
  an entry fails the document's test), each with the body shape of its path (api/errors.py:
  ours, metrics-server's, loopstock's).

What no JSON Schema can state is said in words: a timestamp at most `max_future` ahead of the
clock, an integer written without a fraction or exponent (`1.0` is refused, as the original
counter refused it; JSON Schema 2020-12 calls it an integer), a reused Idempotency-Key (422), a
range query's start after its end, `GET /v1/integers/last` on an empty store (400, as loopstock
answered)."""

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
    PrometheusErrorOut,
    SampleIn,
)
from cluster.common.config import Settings

# The raw-body write routes: (path, method) -> (model, also a list of them).
_BODIES: dict[tuple[str, str], tuple[type[BaseModel], bool]] = {
    ("/v1/metrics", "post"): (SampleIn, True),
    ("/v1/hosts/metrics", "post"): (HostIn, True),
    ("/event", "post"): (EventIn, False),
    ("/v1/integers", "post"): (IntegerIn, False),
}

_WHY = {
    "400": "invalid input: not JSON, a field out of range, a timestamp too far ahead, ...",
    "401": "no bearer token",
    "403": "the admin API is off, or the token is wrong",
    "404": "no such name",
    "409": "a limit would be passed (2^63-1, max_counters, a buffer's limits)",
    "413": "the body or the batch is over its limit",
    "415": "unsupported Content-Type",
    "422": "the Idempotency-Key was used for another request; a query failed while evaluating",
    "429": "too much is waiting, or this client's big bodies were refused too often; retry "
    "after Retry-After seconds",
    "503": "the store did not answer in time; a write was applied fully or not at all",
}
_WRITE = ("400", "409", "413", "415", "422", "429", "503")
# /v1/metrics and /event answer a wrong Content-Type with 400, as their originals did;
# /v1/integers reads any.
_ORIGINAL_WRITE = ("400", "409", "413", "422", "429", "503")
_ADMIN = ("400", "401", "403", "422", "503")

# The error statuses each operation may answer, by operation id.
ERRORS: dict[str, tuple[str, ...]] = {
    "increment": _WRITE,
    "increment_batch": _WRITE,
    "all_counters": ("503",),
    "query": ("400", "404", "422", "503"),
    "health": (),
    "cluster": (),
    "ping": (),
    "metric_names": ("503",),
    "post_samples": _ORIGINAL_WRITE,
    "metric_range": ("400", "404", "503"),
    "host_metrics": ("400", "503"),
    "post_host_metrics": _WRITE,
    "post_event": _ORIGINAL_WRITE,
    "distinct_users": ("400", "404", "503"),
    "hourly_total": ("503",),
    "hourly_per_user": ("503",),
    "first_seen": ("404", "503"),
    "index": (),
    "integers": ("503",),
    "post_integer": _ORIGINAL_WRITE,
    "last_integer": ("400", "503"),
    "debug_vars": (),
    "delete_series": _ADMIN,
    "delete_series_put": _ADMIN,
    **{
        f"prometheus_{name}{method}": ("400", "413", "422", "503")
        if method
        else ("400", "422", "503")
        for name in ("query", "query_range", "series", "labels", "label_values")
        for method in ("", "_post")
    },
    "prometheus_buildinfo": (),
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    "description": "a retry with the same key gets the first answer; the same key with another "
    "request is 422",
}
_INTEGER = (
    "Integers are written as integers: a fraction or exponent (`1.0`, `1e3`) is refused, though "
    "JSON Schema 2020-12 calls such a number an integer."
)


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, app.state.settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=_INTEGER, routes=app.routes
    )
    components = schema.setdefault("components", {})
    models = components.setdefault("schemas", {})
    for model in (
        IncrementIn,
        BatchIn,
        ErrorOut,
        MetricsServerErrorOut,
        LoopstockErrorOut,
        PrometheusErrorOut,
    ):
        models.update(_schema_of(model))
    models["BatchIn"]["properties"]["items"]["maxItems"] = settings.max_batch_items
    components["securitySchemes"] = {
        "adminToken": {"type": "http", "scheme": "bearer", "description": "admin_token"}
    }
    paths = schema["paths"]
    for (path, method), (model, many) in _BODIES.items():
        models.update(_schema_of(model))
        one = _ref(model.__name__)
        body = one
        if many:
            listed = {"type": "array", "items": one, "minItems": 1}
            body = {"oneOf": [one, {**listed, "maxItems": settings.max_batch_items}]}
        operation = paths[path][method]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
        operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    # loopstock's 201 has an empty body (under its Content-Type, application/json).
    paths["/v1/integers"]["post"]["responses"]["201"] = {"description": "stored; no body"}
    paths.setdefault("/metrics", {})["post"] = _write(
        "increment",
        "Add `increment` to every label; each label's value right after this request.",
        {"application/json": "IncrementIn"},
    )
    paths.setdefault("/metrics/batch", {})["post"] = _write(
        "increment_batch",
        "Many increments, all applied or none: a JSON object of items, or NDJSON (one item a "
        f"line); at most {settings.max_batch_items} items and {settings.max_request_labels} "
        "labels in all (413 past either). Each touched label's value right after this request.",
        {"application/json": "BatchIn", "application/x-ndjson": "IncrementIn"},
    )
    for path, item in paths.items():
        content = {"application/json": {"schema": _ref(_error_model(path))}}
        for operation in item.values():
            responses = operation["responses"]
            # FastAPI's 422 is never answered: api/errors.py makes request validation a 400.
            for status in [status for status in responses if status >= "400"]:
                del responses[status]
            for status in ERRORS[operation["operationId"]]:
                responses[status] = {"description": _WHY[status], "content": content}
    for unused in ("HTTPValidationError", "ValidationError"):
        models.pop(unused, None)
    return schema


def _error_model(path: str) -> str:
    if path.startswith("/v1/integers"):
        return "LoopstockErrorOut"
    if path.startswith("/v1/metrics"):
        return "MetricsServerErrorOut"
    if path.startswith("/api/v1/") and not path.startswith("/api/v1/admin"):
        return "PrometheusErrorOut"
    return "ErrorOut"


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    found = model.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = found.pop("$defs", {})
    return {**nested, model.__name__: found}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _write(operation: str, summary: str, bodies: dict[str, str]) -> dict[str, Any]:
    values = {"type": "object", "additionalProperties": {"type": "integer"}}
    return {
        "tags": ["counters"],
        "operationId": operation,
        "summary": summary,
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {media: {"schema": _ref(name)} for media, name in bodies.items()},
        },
        "responses": {
            "200": {
                "description": "applied: every touched label's value",
                "content": {"application/json": {"schema": values}},
            },
        },
    }
