"""Run one node: `METRICS_NODE_NAME=node-4000 python -m api` (run.sh does this for each node)."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from api.app import create_app
from cluster.common.config import Settings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per discovery probe
    try:
        settings = Settings()
        node = settings.this_node
    except (ValidationError, ValueError) as exc:
        sys.stderr.write(f"bad configuration: {exc}\n")
        return 1
    config = uvicorn.Config(
        create_app(settings),
        host=node.host,
        port=node.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=False,  # no proxy in front: X-Forwarded-For is whatever a client claims
        ws="websockets-sansio",  # the legacy "websockets" protocol is deprecated
        ws_max_size=settings.live.max_frame_bytes,  # past it the socket closes with 1009
        timeout_graceful_shutdown=int(settings.shutdown_grace),
        log_level="info",
    )
    server = uvicorn.Server(config)
    server.run()
    # uvicorn returns normally when startup failed (e.g. port taken, no Ray head).
    return 0 if server.started else 3


if __name__ == "__main__":
    sys.exit(main())
