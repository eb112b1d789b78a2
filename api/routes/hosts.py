"""Host metrics, compatible with the original metricSys: GET /v1/hosts/metrics?limit=N, and the
write route its generator lacked (cluster/clients/host_agent.py posts its host's rows).

Fixed from the original: a negative `limit` returned every row and a too large one was not
bounded (both 400 now); an empty answer was `{"metrics": null}` (now `[]`).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import NodeDep, SettingsDep, idempotency_key, one_or_many, read_body
from api.responses import JSONResponse
from api.schemas import HostIn
from cluster.common import wire
from cluster.common.errors import InvalidInput
from cluster.common.timeutil import not_after

router = APIRouter(tags=["hosts (metricSys)"])

MAX_LIMIT = 10_000
_LIMIT_ERROR = "invalid limit query parameter"


_LIMIT_PARAMETER = {
    "name": "limit",
    "in": "query",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT},
}


# The route reads `limit` itself (metricSys's exact errors); the document still names it.
@router.get("/v1/hosts/metrics", openapi_extra={"parameters": [_LIMIT_PARAMETER]})
async def host_metrics(request: Request, node: NodeDep) -> dict[str, Any]:
    """The `limit` newest rows, newest first: `{"metrics": [{id, cpu_usage, memory_usage,
    disk_usage, timestamp}]}`."""
    text = request.query_params.get("limit")
    # Digits only (no sign), and short before int(): a 5,000-digit number would make it raise.
    digits = (text or "").lstrip("0") or "0"
    if text is None or not (
        text.isascii() and text.isdigit() and len(digits) <= 5 and int(digits) <= MAX_LIMIT
    ):
        shown = "missing" if text is None else repr(text)
        raise InvalidInput(
            f"limit is {shown}; give an integer from 0 to {MAX_LIMIT}, e.g. ?limit=10",
            message=_LIMIT_ERROR,
        )
    return {"metrics": await node.read(wire.LatestHosts(int(digits)))}


@router.post("/v1/hosts/metrics", status_code=201)
async def post_host_metrics(request: Request, settings: SettingsDep, node: NodeDep) -> Response:
    """One row `{"id", "cpu_usage", "memory_usage", "disk_usage", "timestamp"}` (percentages,
    RFC 3339) or a list of them."""
    raw = await read_body(request, settings.max_body_bytes)
    rows = await one_or_many(raw, HostIn, settings.max_batch_items)  # timestamps parsed there
    latest = time.time() + settings.buffers.max_future
    records: list[wire.Record] = [
        wire.HostRow(
            r.id, r.cpu_usage, r.memory_usage, r.disk_usage, not_after(r.timestamp, latest)
        )
        for r in rows
    ]
    await node.submit(wire.Request([], idempotency_key(request), records))
    return JSONResponse({"status": "success"}, status_code=201)
