"""Events, compatible with the original data-ingestion service: POST /event, and the reads its
workers and bonus service gave (distinct users per metric per day, last-hour min/max/avg/count
in total and per user, the first time a user was seen).

Fixed from the original: missing fields were stored as "" or 0 (now 400); the "hourly" stats
covered all time (their cleanup cutoff was frozen at start); the daily counter counted events,
not distinct users; the empty answer was `null` (now `[]`).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import BatcherDep, SettingsDep, StoreDep, idempotency_key, media_type, read_body
from api.schemas import EventIn
from cluster.errors import InvalidInput
from cluster.timeutil import day_of

router = APIRouter(tags=["events (data ingestion)"])


@router.post("/event", status_code=200)
async def post_event(request: Request, settings: SettingsDep, batcher: BatcherDep) -> Response:
    """`{"username", "metric", "count"}` with `Content-Type: application/json`: adds `count` to
    the counter `metric` and records the event, stamped with the server's time. 200, empty."""
    media = media_type(request)
    if media != "application/json":
        raise InvalidInput(f"invalid content-type {media or ''!r}, expected application/json")
    event = EventIn.model_validate_json(await read_body(request, settings.max_body_bytes))
    record = ["e", event.username, event.metric, event.count, time.time()]
    await batcher.add([([event.metric], event.count)], idempotency_key(request), [record])
    return Response(status_code=200)


@router.get("/v1/events/{metric}/distinct_users")
async def distinct_users(metric: str, store: StoreDep, day: str | None = None) -> dict[str, Any]:
    """How many distinct users sent events of `metric` on `day` (UTC, default today), with the
    number of events and the sum of their counts."""
    return await store.call("view", "distinct_users", metric, day or day_of(time.time()))


@router.get("/metrics/hourly_logs/total")
@router.get("/metrics/hourly_logs/total/", include_in_schema=False)
async def hourly_total(store: StoreDep) -> list[dict[str, Any]]:
    """Per metric over the last hour: `[{"_id": metric, "average", "count", "maximum",
    "minimum"}]`, where count is the number of events and the others are over their counts."""
    return await store.call("view", "hourly_total")


@router.get("/metrics/hourly_logs/per_user")
@router.get("/metrics/hourly_logs/per_user/", include_in_schema=False)
async def hourly_per_user(store: StoreDep) -> list[dict[str, Any]]:
    """As /metrics/hourly_logs/total, per user and metric: `"_id": {"metric", "username"}`."""
    return await store.call("view", "hourly_per_user")


@router.get("/v1/users/{username}")
async def first_seen(username: str, store: StoreDep) -> dict[str, Any]:
    """When `username` sent its first event."""
    return await store.call("view", "first_seen", username)
