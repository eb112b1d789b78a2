"""Events, compatible with the original data-ingestion service: POST /event, and the reads its
workers and bonus service gave (distinct users per metric per day, last-hour min/max/avg/count
in total and per user, the first time a user was seen).

Fixed from the original: missing fields were stored as "" or 0 (now 400); the "hourly" stats
covered all time (their cleanup cutoff was frozen at start); the daily counter counted events,
not distinct users; the empty answer was `null` (now `[]`).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import NodeDep, SettingsDep, idempotency_key, media_type, read_body
from api.schemas import DATE, EventIn
from cluster.common import wire
from cluster.common.errors import InvalidInput
from cluster.common.timeutil import day_of

router = APIRouter(tags=["events (data ingestion)"])


@router.post("/event", status_code=200, response_class=Response)
async def post_event(request: Request, settings: SettingsDep, node: NodeDep) -> Response:
    """`{"username", "metric", "count"}` with `Content-Type: application/json`: adds `count` to
    the counter `metric` and records the event, stamped with the server's time. 200, empty."""
    media = media_type(request)
    if media != "application/json":
        raise InvalidInput(f"invalid content-type {media or ''!r}, expected application/json")
    event = EventIn.model_validate_json(await read_body(request, settings.max_body_bytes))
    record = wire.Event(event.username, event.metric, event.count, time.time())
    increments = [wire.Increment([event.metric], event.count)]
    await node.submit(wire.Request(increments, idempotency_key(request), [record]))
    return Response(status_code=200)


@router.get("/v1/events/{metric}/distinct_users")
async def distinct_users(
    metric: str, node: NodeDep, day: Annotated[str | None, Query(json_schema_extra=DATE)] = None
) -> dict[str, Any]:
    """How many distinct users sent events of `metric` on `day` (UTC, default today), with the
    number of events and the sum of their counts."""
    return await node.read(wire.DistinctUsers(metric, day_of(time.time()) if day is None else day))


@router.get("/metrics/hourly_logs/total")
@router.get("/metrics/hourly_logs/total/", include_in_schema=False)
async def hourly_total(node: NodeDep) -> Response:
    """Per metric over the last hour: `[{"_id": metric, "average", "count", "maximum",
    "minimum"}]`, where count is the number of events and the others are over their counts."""
    return Response(await node.read(wire.HourlyTotals()), media_type="application/json")


@router.get("/metrics/hourly_logs/per_user")
@router.get("/metrics/hourly_logs/per_user/", include_in_schema=False)
async def hourly_per_user(node: NodeDep) -> Response:
    """As /metrics/hourly_logs/total, per user and metric: `"_id": {"metric", "username"}`."""
    answer = await node.read(wire.HourlyTotals(per_user=True))
    return Response(answer, media_type="application/json")


@router.get("/v1/users/{username}")
async def first_seen(username: str, node: NodeDep) -> dict[str, Any]:
    """When `username` sent its first event."""
    return await node.read(wire.FirstSeen(username))
