"""Counters, compatible with the original distributed counter: POST/GET /metrics, query.

Handlers return responses themselves: a declared response model would make FastAPI validate
every counter of a large map again on the way out. The two write routes are plain Starlette
routes (`WRITE_ROUTES`, mounted by create_app): FastAPI's per-request machinery (dependency
solving, exit stacks) was a measurable share of the hot path; their errors still go through
api/errors.py, which is installed on the whole app."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.deps import NodeDep, idempotency_key, media_type, read_body
from api.errors import describe_validation
from api.responses import JSONResponse
from api.schemas import BatchIn, IncrementIn
from cluster.common import wire
from cluster.common.errors import InvalidInput, NotFound

NDJSON = ("application/x-ndjson", "application/jsonl", "application/ndjson")

router = APIRouter(tags=["counters"])


async def increment(request: Request) -> Response:
    """Add `increment` to every label; answer each label's value right after this request's
    increment, once it is durably applied. (The hot path: no dependencies, see api/deps.py.)"""
    state = request.app.state
    body = IncrementIn.model_validate_json(await read_body(request, state.settings.max_body_bytes))
    increments = [wire.Increment(body.labels, body.increment)]
    return JSONResponse(await state.node.submit(wire.Request(increments, idempotency_key(request))))


async def increment_batch(request: Request) -> Response:
    """Many increments in one request, all applied or none: `{"items": [{"labels": [...],
    "increment": n}, ...]}`, or NDJSON (`Content-Type: application/x-ndjson`, one item a line).
    Answers the value of every touched label right after this request."""
    state = request.app.state
    settings = state.settings
    raw = await read_body(request, settings.max_batch_body_bytes, also=NDJSON)
    if media_type(request) in NDJSON:
        items = _ndjson_items(raw)
    else:
        items = BatchIn.model_validate_json(raw).items
    if len(items) > settings.max_batch_items:
        raise InvalidInput(
            f"{len(items)} items exceed the limit of {settings.max_batch_items}; split the batch"
        )
    increments = [wire.Increment(item.labels, item.increment) for item in items]
    return JSONResponse(await state.node.submit(wire.Request(increments, idempotency_key(request))))


WRITE_ROUTES = [
    Route("/metrics", increment, methods=["POST"]),
    Route("/metrics/batch", increment_batch, methods=["POST"]),
]


def _ndjson_items(raw: bytes) -> list[IncrementIn]:
    items = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.strip():
            try:
                items.append(IncrementIn.model_validate_json(line))
            except ValidationError as exc:
                raise InvalidInput(f"line {number}: {describe_validation(exc)}") from None
    if not items:
        raise InvalidInput("the body holds no item; send one JSON object a line")
    return items


@router.get("/metrics")
async def all_counters(node: NodeDep) -> Response:
    return Response(await node.read(wire.AllCounters()), media_type="application/json")


@router.get("/metrics/query")
async def query(node: NodeDep, expression: str = "") -> Response:
    """`expression` is a comma-separated list of labels; the answer has those that exist.
    An empty expression means every counter."""
    labels = [part.strip() for part in expression.split(",") if part.strip()]
    if not labels:
        return await all_counters(node)
    found = await node.read(wire.CounterValues(labels))
    if not found:
        raise NotFound(f"none of the labels {', '.join(labels)[:500]} exists")
    return JSONResponse(found)
