"""GET /debug/vars: this node's own request statistics (api/stats.py), after Go's expvar page."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api.responses import JSONResponse

router = APIRouter(tags=["debug"])


@router.get("/debug/vars")
async def debug_vars(request: Request) -> Response:
    """Needs `api.stats.install(app)`. This request is counted too, from the next snapshot on."""
    return JSONResponse(request.app.state.request_stats.snapshot())
