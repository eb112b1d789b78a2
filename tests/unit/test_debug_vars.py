"""GET /debug/vars on a small app (no Ray): valid JSON at any time, exact counts by route
template and status, null times when nothing succeeded."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, WebSocket
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from api import stats
from api.routes import debug

NULL_TIMES = {"minimum": None, "maximum": None, "average": None}
NULL_LATENCY = {"p50": None, "p90": None, "p99": None, "max": None, "samples": 0}


async def increment(request: Request) -> Response:
    """Stands in for the plain-Route hot path: 200 for the body `ok`, 400 for anything else."""
    ok = await request.body() == b"ok"
    return PlainTextResponse("ok" if ok else "bad", status_code=200 if ok else 400)


def make_app(**options: int) -> FastAPI:
    app = FastAPI()
    stats.install(app, **options)
    items = APIRouter()

    @items.get("/items/{name}")
    async def item(name: str) -> dict[str, str]:
        return {"name": name}

    @items.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.include_router(items, prefix="/v1")
    app.include_router(debug.router)
    app.router.routes.append(Route("/metrics", increment, methods=["POST"]))
    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    # The 500 of a raising route is the outcome under test, not an error of the test.
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://node")


async def debug_vars(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/debug/vars")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return json.loads(response.text)  # the stdlib parser: strict JSON, no trailing commas


def test_debug_vars_is_json_before_any_request_and_counts_itself() -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with client_for(make_app()) as client:
            return await debug_vars(client), await debug_vars(client)

    first, second = asyncio.run(scenario())
    assert first["cmdline"] == sys.argv
    assert first["rss_bytes"] > 0 and first["memstats"]["rss"] > 0 and first["memstats"]["vms"] > 0
    assert first["uptime_seconds"] >= 0
    assert first["serverMetrics"] == {
        "requests": {"total": 0, "failed": 0, "successfull": 0, "successful": 0},
        "responseTimes": NULL_TIMES,
    }
    assert first["routes"] == {}
    assert first["latency_ms"] == NULL_LATENCY
    assert second["routes"] == {"GET /debug/vars": {"200": 1}}
    assert second["serverMetrics"]["requests"]["successful"] == 1


def test_debug_vars_counts_concurrent_requests_by_route_template_and_status() -> None:
    async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with client_for(make_app()) as client:
            calls = (
                [client.post("/metrics", content=b"ok") for _ in range(80)]
                + [client.post("/metrics", content=b"nope") for _ in range(40)]
                + [client.get(f"/v1/items/item-{i}") for i in range(40)]
                + [client.get("/v1/boom") for _ in range(10)]
                + [client.get(f"/scan-{i}/wp-login.php") for i in range(10)]
            )
            during = asyncio.gather(*(debug_vars(client) for _ in range(20)))
            snapshots, _ = await asyncio.gather(during, asyncio.gather(*calls))
            return snapshots, await debug_vars(client)

    during, after = asyncio.run(scenario())
    assert len(during) == 20  # each parsed as JSON while the other requests were in flight
    assert after["routes"] == {
        "GET (unmatched)": {"404": 10},
        "GET /debug/vars": {"200": 20},
        "GET /v1/boom": {"500": 10},
        "GET /v1/items/{name}": {"200": 40},
        "POST /metrics": {"200": 80, "400": 40},
    }
    assert after["serverMetrics"]["requests"] == {
        "total": 200,
        "failed": 60,
        "successfull": 140,
        "successful": 140,
    }
    times = after["serverMetrics"]["responseTimes"]
    assert 0 < times["minimum"] <= times["average"] <= times["maximum"]
    latency = after["latency_ms"]
    assert latency["samples"] == 140
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert latency["max"] <= times["maximum"] * 1000 + 0.001


def test_debug_vars_all_failed_gives_null_times() -> None:
    async def scenario() -> dict[str, Any]:
        async with client_for(make_app()) as client:
            await asyncio.gather(
                *[client.get("/v1/boom") for _ in range(5)],
                *[client.post("/metrics", content=b"nope") for _ in range(5)],
            )
            return await debug_vars(client)

    after = asyncio.run(scenario())
    assert after["serverMetrics"] == {
        "requests": {"total": 10, "failed": 10, "successfull": 0, "successful": 0},
        "responseTimes": NULL_TIMES,
    }
    assert after["latency_ms"] == NULL_LATENCY
    assert after["routes"] == {"GET /v1/boom": {"500": 5}, "POST /metrics": {"400": 5}}


def test_debug_vars_groups_unmatched_paths_and_unknown_methods() -> None:
    async def scenario() -> dict[str, Any]:
        async with client_for(make_app()) as client:
            await asyncio.gather(*(client.get(f"/{i:x}/.env") for i in range(300)))
            await client.request("BREW", "/coffee")
            await client.request("BREW", "/v1/items/pot")
            return await debug_vars(client)

    after = asyncio.run(scenario())
    assert after["routes"] == {
        "GET (unmatched)": {"404": 300},
        "OTHER (unmatched)": {"404": 1},
        "OTHER /v1/items/{name}": {"405": 1},
    }


def test_debug_vars_table_is_bounded() -> None:
    async def scenario() -> dict[str, Any]:
        async with client_for(make_app(max_keys=2)) as client:
            await client.post("/metrics", content=b"ok")
            await client.get("/v1/items/a")
            await client.get("/v1/boom")
            await client.post("/metrics", content=b"nope")
            await client.get("/v1/items/b")
            return await debug_vars(client)

    after = asyncio.run(scenario())
    assert after["routes"] == {
        "GET (overflow)": {"500": 1},
        "GET /v1/items/{name}": {"200": 2},
        "POST (overflow)": {"400": 1},
        "POST /metrics": {"200": 1},
    }
    assert after["serverMetrics"]["requests"]["total"] == 5


def test_debug_vars_names_mounted_routes_and_shared_endpoints() -> None:
    app = make_app()
    app.router.routes.append(Route("/metrics/a", increment, methods=["POST"]))
    sub = FastAPI()

    @sub.get("/series/{label}")
    async def series(label: str) -> dict[str, str]:
        return {"label": label}

    app.mount("/mounted", sub)

    async def scenario() -> dict[str, Any]:
        async with client_for(app) as client:
            await client.post("/metrics", content=b"ok")
            await client.post("/metrics/a", content=b"ok")
            await client.post("/metrics/a", content=b"nope")
            await client.get("/mounted/series/x")
            await client.get("/mounted/nothing")
            return await debug_vars(client)

    assert asyncio.run(scenario())["routes"] == {
        "GET (unmatched)": {"404": 1},
        "GET /mounted/series/{label}": {"200": 1},
        "POST /metrics": {"200": 1},
        "POST /metrics/a": {"200": 1, "400": 1},
    }


async def drive(app: FastAPI, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[str]:
    """Run one raw ASGI connection; answer the types of the messages the app sent."""
    queue = list(incoming)
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app(scope, receive, send)
    return sent


def test_debug_vars_leaves_websockets_and_lifespan_alone() -> None:
    app = make_app()

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    async def scenario() -> tuple[list[str], list[str], dict[str, Any]]:
        lifespan = await drive(
            app,
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
        )
        websocket = {"type": "websocket", "path": "/echo", "headers": [], "query_string": b""}
        echoed = await drive(
            app,
            {**websocket, "scheme": "ws", "server": ("node", 80), "root_path": ""},
            [
                {"type": "websocket.connect"},
                {"type": "websocket.receive", "text": "hi"},
                {"type": "websocket.disconnect", "code": 1000},
            ],
        )
        async with client_for(app) as client:
            return lifespan, echoed, await debug_vars(client)

    lifespan, echoed, after = asyncio.run(scenario())
    assert lifespan == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert echoed == ["websocket.accept", "websocket.send", "websocket.close"]
    assert after["serverMetrics"]["requests"]["total"] == 0
    assert after["routes"] == {}
