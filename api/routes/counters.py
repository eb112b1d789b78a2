"""Counters, compatible with the original distributed counter: POST/GET /metrics, query.

Handlers return responses themselves: a declared response model would make FastAPI validate
every counter of a large map again on the way out."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import BatcherDep, IdempotencyKey, JsonBody, StoreDep
from api.responses import JSONResponse
from api.schemas import IncrementIn
from cluster.errors import NotFound

router = APIRouter(tags=["counters"])


@router.post("/metrics")
async def increment(body: JsonBody, batcher: BatcherDep, key: IdempotencyKey) -> Response:
    """Add `increment` to every label; answer each label's value right after this request's
    increment, once it is durably applied."""
    request = IncrementIn.model_validate(body)
    return JSONResponse(await batcher.add(request.labels, request.increment, key))


@router.get("/metrics")
async def all_counters(store: StoreDep) -> Response:
    return JSONResponse(await store.call("read", None))


@router.get("/metrics/query")
async def query(store: StoreDep, expression: str = "") -> Response:
    """`expression` is a comma-separated list of labels; the answer has those that exist.
    An empty expression means every counter."""
    labels = [part.strip() for part in expression.split(",") if part.strip()]
    found = await store.call("read", labels or None)
    if not found and labels:
        raise NotFound(f"none of the labels {', '.join(labels)[:500]} exists")
    return JSONResponse(found)
