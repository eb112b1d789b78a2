import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys

import httpx

from cluster.clients import common as _client
from cluster.clients import host_agent
from tests.conftest import wait_for

URLS = ["http://n:1", "http://n:2", "http://n:3"]


class Cluster:
    """A MockTransport handler: refuses connections while down, else answers `status`."""

    def __init__(self) -> None:
        self.up = False
        self.statuses: list[int] = []  # answers to give in turn, then 201
        self.received: list[object] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        self.received.append(json.loads(request.content))
        status = self.statuses.pop(0) if self.statuses else 201
        return httpx.Response(status, json={"status": "success"})


def shipper_for(client: httpx.AsyncClient, buffer: int = 3600) -> host_agent.Shipper:
    progress = _client.Progress(emit=lambda _: None)
    return host_agent.Shipper(client, _client.Nodes(URLS, rotate=False), progress, buffer=buffer)


def ship(cluster: Cluster, samples: int, buffer: int = 3600) -> host_agent.Shipper:
    """Add `samples` samples numbered 0.. while the cluster is down, try a flush, bring the
    cluster up, flush again."""

    async def scenario() -> host_agent.Shipper:
        async with httpx.AsyncClient(transport=httpx.MockTransport(cluster)) as client:
            shipper = shipper_for(client, buffer)
            for n in range(samples):
                shipper.add({"n": n})
            assert await shipper.flush() is False
            assert len(shipper.backlog) == min(samples, buffer) and not shipper.up
            cluster.up = True
            assert await shipper.flush() is True
            return shipper

    return asyncio.run(scenario())


def numbers(received: list[object]) -> list[int]:
    return [s["n"] for body in received for s in (body if isinstance(body, list) else [body])]


def test_host_agent_buffers_while_down_and_flushes_oldest_first_in_lists_of_500():
    cluster = Cluster()
    shipper = ship(cluster, 1203)
    assert [len(body) for body in cluster.received] == [500, 500, 203]
    assert numbers(cluster.received) == list(range(1203))
    assert not shipper.backlog and shipper.up
    assert shipper.progress.other["samples"] == 1203


def test_host_agent_drops_a_batch_answered_4xx_and_sends_the_rest():
    cluster = Cluster()
    cluster.statuses = [400]
    shipper = ship(cluster, 1200)
    assert [len(body) for body in cluster.received] == [500, 500, 200]  # the 400 not retried
    assert shipper.progress.other == {"dropped": 500, "samples": 700}
    assert not shipper.backlog


def test_host_agent_keeps_the_newest_samples_when_the_buffer_is_full():
    cluster = Cluster()
    shipper = ship(cluster, 15, buffer=10)
    assert numbers(cluster.received) == list(range(5, 15))
    assert shipper.progress.other["overflowed"] == 5


def test_host_agent_run_logs_down_and_back_up_once_and_delivers_every_sample(caplog):
    caplog.set_level(logging.INFO, logger="host_agent")
    cluster = Cluster()
    taken = 0

    async def scenario() -> None:
        stop = asyncio.Event()

        def sample() -> dict[str, int]:
            nonlocal taken
            cluster.up = taken >= 10
            taken += 1
            if taken == 30:
                stop.set()
            return {"n": taken - 1}

        async with httpx.AsyncClient(transport=httpx.MockTransport(cluster)) as client:
            progress = _client.Progress(emit=lambda _: None)
            nodes = _client.Nodes(URLS, rotate=False)
            await host_agent.run_agent(
                client, nodes, sample, stop, progress, interval=0.001, backoff=(0.001, 0.004)
            )

    asyncio.run(scenario())
    assert numbers(cluster.received) == list(range(30))
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cluster down" in m for m in messages) == 1
    assert sum("cluster back up" in m for m in messages) == 1


def test_host_agent_exits_0_on_sigterm_while_the_cluster_is_down(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on: the cluster is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "cluster.clients.host_agent"]
    command += ["--url", f"http://127.0.0.1:{port}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "agent.log"
    # The log goes to a file polled to a deadline: a pipe's readline() could block past it.
    with open(log, "w") as out, subprocess.Popen(command, stderr=out, env=env) as proc:
        try:
            wait_for(lambda: "cluster down" in log.read_text(), 20, 0.05, "the down log line")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
    rest = log.read_text()
    assert "samples not sent" in rest and "done in" in rest
