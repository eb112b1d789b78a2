import asyncio

import httpx

from cluster.common.config import NodeSpec
from cluster.node.discovery import Discovery


def test_probe_marks_peers_up_and_down_and_recovers():
    alive = {"n1": True, "n2": False}

    def handler(request: httpx.Request) -> httpx.Response:
        name = "n1" if request.url.port == 5001 else "n2"
        if not alive[name]:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"status": "ok"})

    peers = [NodeSpec(name="n1", port=5001), NodeSpec(name="n2", port=5002)]

    async def scenario():
        discovery = Discovery(peers, 1.0, 0.5, transport=httpx.MockTransport(handler))
        assert {p["status"] for p in discovery.table()} == {"unknown"}
        await discovery.probe_all()
        table = {p["name"]: p for p in discovery.table()}
        assert table["n1"]["status"] == "up" and table["n1"]["last_seen"] is not None
        assert table["n2"]["status"] == "down"
        assert "ConnectError" in table["n2"]["last_error"]
        await discovery.probe_all()
        assert {p["name"]: p for p in discovery.table()}["n2"]["consecutive_failures"] == 2
        alive["n2"] = True
        await discovery.probe_all()
        table = {p["name"]: p for p in discovery.table()}
        assert table["n2"]["status"] == "up" and table["n2"]["consecutive_failures"] == 0

    asyncio.run(scenario())


def test_peer_answering_5xx_counts_as_down():
    async def scenario():
        transport = httpx.MockTransport(lambda _: httpx.Response(503))
        discovery = Discovery([NodeSpec(name="n", port=5003)], 1.0, 0.5, transport=transport)
        await discovery.probe_all()
        assert discovery.table()[0]["status"] == "down"

    asyncio.run(scenario())
