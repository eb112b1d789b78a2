import asyncio
import json
import random
from datetime import UTC, datetime

import httpx

from cluster.clients import common as _client
from cluster.common.timeutil import parse_rfc3339
from scripts import simulate

URLS = ["http://n:1", "http://n:2", "http://n:3"]


def run_simulator(handler, names: list[str], count: int, **options) -> simulate.Simulator:
    async def scenario() -> simulate.Simulator:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            progress = _client.Progress(emit=lambda _: None)
            sim = simulate.Simulator(
                client, _client.Nodes(URLS), progress, random.Random(7), interval=0.001, **options
            )
            await sim.run(names, asyncio.Event(), count)
            return sim

    return asyncio.run(scenario())


def test_simulate_posts_samples_in_the_contract_shape_to_every_node():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"status": "success"})

    sim = run_simulator(handler, ["metric_a", "metric_b"], count=3)
    bodies = [json.loads(r.content) for r in seen]
    assert sorted(b["name"] for b in bodies) == ["metric_a"] * 3 + ["metric_b"] * 3
    for request, body in zip(seen, bodies, strict=True):
        assert request.method == "POST" and request.url.path == "/v1/metrics"
        assert request.headers["content-type"] == "application/json"
        assert set(body) == {"timestamp", "name", "value"}
        assert 20.0 <= body["value"] <= 40.0
        assert body["timestamp"].endswith("Z")
        parse_rfc3339(body["timestamp"])
    assert {r.url.port for r in seen} == {1, 2, 3}
    assert (sim.progress.sent, sim.progress.ok, sim.progress.errors) == (6, 6, 0)


def test_simulate_survives_503s_and_transport_errors_and_goes_on():
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 3:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"message": "down"})
        if calls == 4:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(201, json={"status": "success"})

    sim = run_simulator(handler, ["metric_a"], count=8, backoff=0.0)
    assert (sim.progress.sent, sim.progress.ok, sim.progress.errors) == (8, 4, 4)


def test_simulate_historical_timestamps_fall_in_january_to_march_of_2023_or_2024():
    rng = random.Random(3)
    for _ in range(500):
        moment = datetime.fromtimestamp(simulate.historical_ms(rng) / 1000, UTC)
        assert moment.year in (2023, 2024) and moment.month <= 3 and moment.day <= 28
