"""The live feeds of a real cluster (real uvicorn, real sockets): the official Phoenix client
(vendored, under Node.js) and a raw frame-level client on every node, and a bad frame that
ends its own socket only."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from cluster.ops.local import LocalCluster
from scripts import debian

pytestmark = pytest.mark.integration
CLIENT = Path(__file__).parents[1] / "js" / "phoenix_lobby.mjs"
FIELDS = {"id", "cpu_usage", "memory_usage", "disk_usage", "timestamp"}


def _socket_url(cluster: LocalCluster, node: int) -> str:
    return cluster.urls[node].replace("http://", "ws://") + "/socket"


def _wait_for_host_rows(cluster: LocalCluster) -> set[str]:
    """The ids of the hosts the agent reported (it posts a row a second)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = httpx.get(f"{cluster.urls[0]}/v1/hosts/metrics?limit=50").json()["metrics"]
        if rows:
            return {row["id"] for row in rows}
        time.sleep(0.1)
    raise AssertionError("no host row in 30 s")


def test_the_official_phoenix_client_joins_the_lobby_on_every_node(cluster):
    node = debian.require("node", "nodejs", "the Phoenix client test runs under Node.js")
    hosts = _wait_for_host_rows(cluster)
    for index in range(len(cluster.urls)):
        run = subprocess.run(
            [node, str(CLIENT), _socket_url(cluster, index)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        events = [json.loads(line) for line in run.stdout.splitlines()]
        assert run.returncode == 0, (run.stdout, run.stderr)
        by_name = {}
        for event in events:
            by_name.setdefault(event["event"], []).append(event["data"])
        assert by_name["joined"] == [{"welcome": "Welcome to the Metric Channel!"}]
        assert by_name["refused"] == [{"reason": "unmatched topic"}]
        assert by_name["left"] == [{}]
        assert len(by_name["metrics_data"]) == 2
        for payload in by_name["metrics_data"]:
            assert payload["metrics"] and {row["id"] for row in payload["metrics"]} <= hosts
            assert all(set(row) == FIELDS for row in payload["metrics"])


def _frame(ws) -> list:
    return json.loads(ws.recv(timeout=10))


def _next(ws, event: str) -> list:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = _frame(ws)
        if frame[3] == event:
            return frame
    raise AssertionError(f"no {event} in 10 s")


def test_a_raw_client_gets_metrics_data_and_a_bad_frame_ends_only_its_own_socket(cluster):
    _wait_for_host_rows(cluster)
    url = _socket_url(cluster, 1) + "/websocket?vsn=2.0.0"
    with connect(url) as good, connect(url) as bad:
        good.send(json.dumps(["1", "1", "metric:lobby", "phx_join", {}]))
        assert _frame(good)[3:] == [
            "phx_reply",
            {"status": "ok", "response": {"welcome": "Welcome to the Metric Channel!"}},
        ]
        first = _next(good, "metrics_data")
        assert first[:3] == [None, None, "metric:lobby"] and first[4]["metrics"]
        bad.send("[1, 2, 3]")
        with pytest.raises(ConnectionClosed) as closed:
            _frame(bad)
        assert closed.value.rcvd.code == 1007 and "a JSON array" in closed.value.rcvd.reason
        assert _next(good, "metrics_data")[4]["metrics"]  # the other socket serves on
    with connect(url, max_size=None) as big:  # past live.max_frame_bytes, uvicorn closes it
        big.send(json.dumps([None, "1", "phoenix", "heartbeat", {"pad": "x" * 70_000}]))
        with pytest.raises(ConnectionClosed) as closed:
            _frame(big)
        assert closed.value.rcvd.code == 1009
    health = httpx.get(f"{cluster.urls[1]}/health").json()
    assert health["status"] == "up"
