"""The admin API, Prometheus-compatible: POST (or PUT) /api/v1/admin/tsdb/delete_series.

Off unless `admin_token` (METRICS_ADMIN_TOKEN) is set: then a request must carry
`Authorization: Bearer <token>`, compared in constant time. 401 without credentials, 403 with
wrong ones or while the API is off; never a 5xx for either."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api.deps import NodeDep, SettingsDep
from api.selectors import parse_selector
from cluster.common import wire
from cluster.common.config import Settings
from cluster.common.errors import InvalidInput

router = APIRouter(tags=["admin"])


def _authorize(request: Request, settings: Settings) -> None:
    if settings.admin_token is None:
        raise HTTPException(
            403, "the admin API is off; set admin_token (METRICS_ADMIN_TOKEN) on every node"
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(
            401,
            "send the admin token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="metrics cluster admin"'},
        )
    expected = settings.admin_token.get_secret_value().encode()
    if not hmac.compare_digest(given.strip().encode(), expected):
        raise HTTPException(403, "the admin token is wrong")


@router.post("/api/v1/admin/tsdb/delete_series", status_code=204)
@router.put("/api/v1/admin/tsdb/delete_series", status_code=204, operation_id="delete_series_put")
async def delete_series(
    request: Request,
    settings: SettingsDep,
    node: NodeDep,
    match: Annotated[list[str], Query(alias="match[]")] = [],  # noqa: B006 (FastAPI copies it)
    start: str | None = None,
    end: str | None = None,
) -> Response:
    """Delete every counter and metric series a `match[]` selector names (a name, or
    `{__name__="name"}`, or `{__name__=~"regex"}`). 204 once the delete is durable."""
    _authorize(request, settings)
    if not match:
        raise InvalidInput('give at least one match[] selector, e.g. match[]={__name__=~"tmp_.*"}')
    if start is not None or end is not None:
        raise InvalidInput("start and end are not supported: whole series are deleted")
    selectors = [parse_selector(text) for text in match]
    await node.delete_series(wire.DeleteSeries(selectors))
    return Response(status_code=204)
