"""Counters, compatible with the original distributed counter: POST/GET /metrics, query."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import BatcherDep, IdempotencyKey, JsonBody, StoreDep
from api.schemas import IncrementIn
from cluster.errors import NotFound

router = APIRouter(tags=["counters"])


@router.post("/metrics")
async def increment(body: JsonBody, batcher: BatcherDep, key: IdempotencyKey) -> dict[str, int]:
    """Add `increment` to every label; answer each label's value right after this request's
    increment, once it is durably applied."""
    request = IncrementIn.model_validate(body)
    return await batcher.add(request.labels, request.increment, key)


@router.get("/metrics")
async def all_counters(store: StoreDep) -> dict[str, int]:
    return await store.call("read", None)


@router.get("/metrics/query")
async def query(store: StoreDep, expression: str = "") -> dict[str, int]:
    """`expression` is a comma-separated list of labels; the answer has those that exist.
    An empty expression means every counter."""
    labels = [part.strip() for part in expression.split(",") if part.strip()]
    if not labels:
        return await store.call("read", None)
    found = await store.call("read", labels)
    if not found:
        raise NotFound(f"none of the labels {', '.join(labels)[:500]} exists")
    return found
