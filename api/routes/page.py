"""The dashboard: `GET /` and its files under `/static` (api/static/, the libraries vendored
there with their licenses), served by every node; no CDN, no separate frontend server."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[1] / "static"
router = APIRouter()
files = StaticFiles(directory=STATIC)


@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
