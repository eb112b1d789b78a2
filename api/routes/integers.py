"""Integers, compatible with the original loopstock API: generators POST integers, the server
averages them over 5 s windows of event time, and GET /v1/integers serves the latest averages.

Fixed from the original: reads answer 200 (they answered 201); averages are exact (they were
truncated to integers of values truncated to one byte); windows follow event time, not arrival;
a resent sample (same generator and seq) counts once; a store error is a 503, not a 400 or 500
carrying the database's message.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from api.deps import NodeDep, SettingsDep, idempotency_key, read_body
from api.errors import describe_validation
from api.schemas import MAX_INTEGER, IntegerIn
from cluster.common import wire
from cluster.common.errors import InvalidInput
from cluster.common.timeutil import not_after

router = APIRouter(tags=["integers (loopstock)"])

_PATHS = {
    "root": ("GET", "/v1"),
    "get_integers": ("GET", "/v1/integers"),
    "get_last_integer": ("GET", "/v1/integers/last"),
    "new_integer": ("POST", "/v1/integers"),
}


@router.get("/v1")
async def index() -> dict[str, Any]:
    return {"endpoints": {k: {"method": m, "path": p} for k, (m, p) in _PATHS.items()}}


@router.post("/v1/integers", status_code=201)
async def post_integer(request: Request, settings: SettingsDep, node: NodeDep) -> Response:
    """`{"integer": 1..4294967295}`, optionally with `generator` and `seq` (a resend of the same
    pair is accepted and not counted again) and `timestamp` (event time, RFC 3339). 201, empty."""
    raw = await read_body(request, settings.max_body_bytes, any_media=True)
    try:
        body = IntegerIn.model_validate_json(raw)  # a bad timestamp: InvalidInput, invalid_body
    except ValidationError as exc:
        detail = f"Cannot read body: {describe_validation(exc)}"
        raise InvalidInput(detail, code="invalid_body") from None
    n = body.integer
    if n is None or not 1 <= n <= MAX_INTEGER:
        shown = "0" if n is None else str(n)
        raise InvalidInput(
            f'Integer "{shown}" is not valid: give an integer from 1 to {MAX_INTEGER}',
            code="invalid_integer",
        )
    if (body.generator is None) != (body.seq is None):
        raise InvalidInput(
            "Cannot read body: generator and seq go together (both or neither)",
            code="invalid_body",
        )
    now = time.time()
    ts = now
    if body.timestamp is not None:
        ts = not_after(body.timestamp, now + settings.buffers.max_future)
    record = wire.IntegerSample(body.generator, body.seq, n, ts)
    await node.submit(wire.Request([], idempotency_key(request), [record]))
    return Response(status_code=201, media_type="application/json")


@router.get("/v1/integers")
async def integers(node: NodeDep) -> list[dict[str, Any]]:
    """The last 10 averages, newest first: `[{"id", "integer", "created_at"}]`."""
    return await node.read(wire.IntegerAverages(10))


@router.get("/v1/integers/last")
async def last_integer(node: NodeDep) -> dict[str, Any]:
    last = await node.read(wire.IntegerAverages(1))
    if not last:
        # 400, not 404: the original's status, which its clients test for.
        raise InvalidInput("No data found into database", code="empty_database")
    return last[0]
