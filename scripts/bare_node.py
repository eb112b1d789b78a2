"""The benchmark's baseline: a FastAPI node that parses and validates `POST /metrics` exactly as
a cluster node does, then answers without counting anything. Same server settings as a node
(uvicorn, uvloop, httptools, no access log).

  python scripts/bare_node.py --port 4000
"""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

from api.responses import JSONResponse
from api.schemas import IncrementIn


def create_bare_app() -> FastAPI:
    app = FastAPI(default_response_class=JSONResponse)

    @app.post("/metrics")
    async def increment(request: Request) -> Response:
        body = IncrementIn.model_validate_json(await request.body())
        return JSONResponse(dict.fromkeys(body.labels, body.increment))

    @app.get("/health")
    async def health() -> Response:
        return JSONResponse({"status": "ok"})

    return app


def main(
    port: Annotated[int, typer.Option(help="port to listen on")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
) -> None:
    """Serve the no-op baseline node."""
    uvicorn.run(
        create_bare_app(),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    typer.run(main)
