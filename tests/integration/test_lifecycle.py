"""Starting, racing, failing and stopping real clusters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest

from cluster.ops.local import LocalCluster, sessions_alive
from tests.conftest import ROOT, wait_for
from tests.integration.conftest import FAST_DISCOVERY

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def healthy(cluster: LocalCluster) -> bool:
    return all(cluster.get(i, "/health").status_code == 200 for i in range(cluster.nodes))


def test_first_requests_race_to_create_one_actor(make_cluster):
    """Foreground ./run.sh; the very first requests hit all nodes at once; Ctrl-C stops all."""
    cluster = make_cluster(extra_env={"METRICS_AGENT__ENABLED": "false"})  # it would be first
    run = subprocess.Popen(
        [str(ROOT / "run.sh")],
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: healthy(cluster), 120, what="every node to answer /health")
        assert {cluster.get(i, "/health").json()["actor"]["state"] for i in range(3)} == {
            "not created"
        }
        racers = 9
        barrier = threading.Barrier(racers)

        def first_post(i: int) -> httpx.Response:
            barrier.wait()
            return cluster.post(i % 3, ["race", f"race_{i % 3}"], i + 1)

        with ThreadPoolExecutor(racers) as pool:
            responses = list(pool.map(first_post, range(racers)))
        assert [r.status_code for r in responses] == [200] * racers
        actors = {cluster.get(i, "/health").json()["actor"]["actor_id"] for i in range(3)}
        assert len(actors) == 1
        counters = cluster.counters()
        assert counters["race"] == sum(range(1, racers + 1))
        for n in range(3):
            assert counters[f"race_{n}"] == sum(i + 1 for i in range(racers) if i % 3 == n)
        pids = cluster.pids()
    finally:
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=90)
    assert run.returncode == 0, output
    assert "stopped" in output
    assert sessions_alive(pids) == []


def test_start_twice_and_stop_twice_do_no_harm(make_cluster):
    cluster = make_cluster()
    cluster.start()
    pids = cluster.pids()
    again = cluster.supervise("start")
    assert again.returncode == 0 and "already running" in again.stdout
    assert cluster.pids() == pids and healthy(cluster)
    status = cluster.supervise("status")
    assert status.returncode == 0 and status.stdout.count(" up") == 3
    stopped = cluster.supervise("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert sessions_alive(pids) == []
    assert "nothing running" in cluster.supervise("stop").stdout
    assert cluster.supervise("status").returncode == 3


def test_start_refuses_ports_in_use(make_cluster):
    cluster = make_cluster()
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", cluster.ports[1]))
        sock.listen()
        done = cluster.supervise("start")
    assert done.returncode == 3
    assert str(cluster.ports[1]) in done.stderr


def test_killed_node_is_reported_down_while_others_serve(cluster: LocalCluster):
    victim = cluster.names[2]
    os.kill(cluster.pids()[victim], signal.SIGKILL)

    def peer_status(observer: int) -> str:
        peers = cluster.get(observer, "/cluster").json()["peers"]
        return next(p["status"] for p in peers if p["name"] == victim)

    # The documented bound: a peer is down from its first failed probe, i.e. within one
    # interval plus the probe's timeout (0.5 + 0.4 s here); one more interval for the poll.
    interval, timeout = (
        float(FAST_DISCOVERY[f"METRICS_DISCOVERY_{k}"]) for k in ("INTERVAL", "TIMEOUT")
    )
    bound = 2 * interval + timeout
    wait_for(lambda: peer_status(0) == "down" and peer_status(1) == "down", bound, 0.05, "down")
    before = cluster.counters().get("while_down", 0)
    for i in range(20):
        assert cluster.post(i % 2, ["while_down"], 1).status_code == 200
    assert cluster.counters()["while_down"] == before + 20
    # the supervisor restarts it; the peers see it come back
    wait_for(lambda: peer_status(0) == "up" and peer_status(1) == "up", 60, 0.2, "back up")
    assert cluster.get(2, "/metrics").json()["while_down"] == before + 20


def test_sigterm_drains_in_flight_requests(cluster: LocalCluster):
    """Every request a node answered 200 before SIGTERM counts; none gets a 5xx."""
    victim = cluster.names[0]
    before = cluster.counters().get("drain", 0)
    statuses: list[int | str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=15) as client:
            while not stop.is_set():
                try:
                    r = client.post(
                        f"{cluster.urls[0]}/metrics", json={"labels": ["drain"], "increment": 1}
                    )
                    statuses.append(r.status_code)
                except httpx.TransportError as exc:
                    statuses.append(type(exc).__name__)
                    return

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: statuses.count(200) >= 50, 30, 0.05, "load to run")
    os.kill(cluster.pids()[victim], signal.SIGTERM)
    wait_for(lambda: not any(t.is_alive() for t in threads), 30, 0.1, "load to stop")
    stop.set()
    assert not [s for s in statuses if isinstance(s, int) and s >= 500]
    assert cluster.get(1, "/metrics").json()["drain"] == before + statuses.count(200)
    wait_for(lambda: cluster.get(0, "/health").status_code == 200, 60, 0.2, "node back")


def test_host_agent_outlives_a_down_cluster_and_delivers_its_backlog(make_cluster, tmp_path):
    cluster = make_cluster(extra_env={"METRICS_AGENT__ENABLED": "false"})
    log = tmp_path / "agent.log"
    argv = [sys.executable, "-m", "cluster.clients.host_agent", "--id", "it-agent"]
    argv += ["--interval", "0.2", *(a for url in cluster.urls for a in ("--url", url))]
    with open(log, "wb") as out:
        agent = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "cluster down" in log.read_text(), 30, 0.1, "the agent to see it down")
        assert agent.poll() is None
        cluster.start()

        def rows() -> list[dict]:
            metrics = cluster.get(0, "/v1/hosts/metrics?limit=1000").json()["metrics"]
            return [row for row in metrics if row["id"] == "it-agent"]

        # Samples taken while the cluster was down arrive too, oldest first.
        oldest = datetime.fromisoformat(wait_for(rows, 60, 0.2, "the backlog")[-1]["timestamp"])
        assert "back up" in log.read_text()
        assert oldest.timestamp() < cluster.get(0, "/health").json()["actor"]["started_at"]
    finally:
        agent.terminate()
        assert agent.wait(10) == 0


def test_supervisor_restarts_a_killed_host_agent(cluster: LocalCluster):
    old = cluster.pids()["host-agent"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: cluster.pids().get("host-agent", old) != old, 30, 0.2, "a new agent")
