"""Metric samples, compatible with the original metrics-server: POST/GET /v1/metrics, the
bucketed range query, /ping.

Fixed from the original: the end date is included (it was excluded), the granularity is
checked (anything but minute/hour/day gave a 500), a bad sample is refused with the offending
value (it was stored with zero values, or killed the server), an unknown metric is a 404.
"""

from __future__ import annotations

import calendar
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from api.deps import NodeDep, SettingsDep, idempotency_key, media_type, one_or_many, read_body
from api.responses import JSONResponse
from api.schemas import DATE, DATE_TIME, SampleIn
from cluster.common import wire
from cluster.common.errors import InvalidInput
from cluster.common.timeutil import not_after, parse_day, parse_rfc3339, rfc3339
from cluster.common.wire import RESOLUTIONS

router = APIRouter(tags=["samples (metrics-server)"])

DAY = 86400


@router.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "up"}


@router.post("/v1/metrics", status_code=201)
@router.post("/v1/metrics/", status_code=201, include_in_schema=False)
async def post_samples(request: Request, settings: SettingsDep, node: NodeDep) -> Response:
    """One sample `{"timestamp": RFC 3339, "name", "value", "labels"?}` or a list of them; 201
    once stored."""
    media = media_type(request)
    if media != "application/json":  # a 400 here, as in the original, not our usual 415
        raise InvalidInput(f"Content-Type is {media!r}; send application/json")
    raw = await read_body(request, settings.max_body_bytes)
    samples = await one_or_many(raw, SampleIn, settings.max_batch_items)  # timestamps parsed there
    # A far-future sample would push its series' whole history out of retention.
    latest = time.time() + settings.buffers.max_future
    records: list[wire.Record] = [
        wire.Sample(s.name, not_after(s.timestamp, latest), s.value, s.label_pairs())
        for s in samples
    ]
    await node.submit(wire.Request([], idempotency_key(request), records))
    return JSONResponse({"status": "success"}, status_code=201)


@router.get("/v1/metrics")
@router.get("/v1/metrics/", include_in_schema=False)
async def metric_names(node: NodeDep) -> list[str]:
    """Every metric name that has samples, sorted."""
    return await node.read(wire.SeriesNames())


# The route checks its path itself, with the original's messages; the document states the same.
Granularity = Annotated[str, Path(json_schema_extra={"enum": list(RESOLUTIONS)})]
Moment = Annotated[str, Path(json_schema_extra={"anyOf": [DATE, DATE_TIME]})]


@router.get("/v1/metrics/{name}/{granularity}/{start}/{end}")
async def metric_range(
    name: str, granularity: Granularity, start: Moment, end: Moment, node: NodeDep
) -> dict[str, Any]:
    """The average (and count, min, max) per bucket of `granularity` from `start` to `end`,
    both included, newest first. Dates are `YYYY-MM-DD` (an end date covers its whole day) or
    RFC 3339 date-times; `start` after `end` is a 400 (`Invalid date range`)."""
    first = parse_moment(start, "startDate", end_of_day=False)
    last = parse_moment(end, "endDate", end_of_day=True)
    if granularity not in RESOLUTIONS:
        raise InvalidInput(
            f"granularity {granularity!r} is not one of {', '.join(RESOLUTIONS)}",
            message="Invalid granularity",
        )
    if first > last:
        raise InvalidInput(
            f"startDate {start!r} is after endDate {end!r}", message="Invalid date range"
        )
    buckets = await node.read(wire.SeriesRange(name, granularity, first, last))
    return {
        "metricName": name,
        "granularity": granularity,
        "startTime": rfc3339(first),
        "endTime": rfc3339(last),
        "data": [
            {
                "timeFrame": rfc3339(b.start),
                "avg": b.total / b.count,
                "count": b.count,
                "min": b.low,
                "max": b.high,
            }
            for b in buckets
        ],
    }


def parse_moment(text: str, what: str, end_of_day: bool) -> float:
    """A path date (`YYYY-MM-DD`, the original's form: its midnight, or its last second for an
    end) or RFC 3339 date-time, in Unix seconds."""
    try:
        if len(text) == 10:
            day = parse_day(text, what)
            ts = calendar.timegm(day.timetuple())  # its midnight, UTC
            return ts + DAY - 1 if end_of_day else ts
        return parse_rfc3339(text, what)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{what} {text!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time",
            message=f"Invalid {what} format",
        ) from exc
