"""The dashboard: `GET /` and its files under `/static` (api/static/, the libraries vendored
there with their licenses), served by every node; no CDN, no separate frontend server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

STATIC = Path(__file__).resolve().parents[1] / "static"
router = APIRouter()


class _Revalidated(StaticFiles):
    """Files a browser asks again for each time (a 304 when unchanged), so a node upgraded
    never pairs a new page with an old script from the browser's cache."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


files = _Revalidated(directory=STATIC)


@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
