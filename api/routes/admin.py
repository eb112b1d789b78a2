"""The admin API, Prometheus-compatible: POST (or PUT) /api/v1/admin/tsdb/delete_series.

Off unless `admin_token` (METRICS_ADMIN_TOKEN) is set: then a request must carry
`Authorization: Bearer <token>`, compared in constant time. 401 without credentials, 403 with
wrong ones or while the API is off; never a 5xx for either."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api import promql
from api.deps import NodeDep, SettingsDep
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


# The route reads its query itself (its own messages for a missing or malformed selector, and
# for Prometheus's start and end, which it refuses); the document states the selectors it takes.
_MATCH = {
    "name": "match[]",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "schema": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "maxLength": 10_000},
    },
    "description": 'a series selector, e.g. tmp_x or {__name__=~"tmp_.*", job="a"}',
}
_OPENAPI = {"parameters": [_MATCH], "security": [{"adminToken": []}]}


@router.post("/api/v1/admin/tsdb/delete_series", status_code=204, openapi_extra=_OPENAPI)
@router.put(
    "/api/v1/admin/tsdb/delete_series",
    status_code=204,
    operation_id="delete_series_put",
    openapi_extra=_OPENAPI,
)
async def delete_series(request: Request, settings: SettingsDep, node: NodeDep) -> Response:
    """Delete every counter and sample series a `match[]` series selector selects (PromQL:
    `name{label="v", ...}`). 204 once the delete is durable."""
    _authorize(request, settings)
    query = request.query_params
    match = query.getlist("match[]")
    if not match:
        raise InvalidInput('give at least one match[] selector, e.g. match[]={__name__=~"tmp_.*"}')
    if "start" in query or "end" in query:
        raise InvalidInput("start and end are not supported: whole series are deleted")
    await node.delete_series(promql.delete_request(match))
    return Response(status_code=204)
