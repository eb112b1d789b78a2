"""Four shards in a real cluster (METRICS_SHARDS=4): the first requests racing to create four
actors, a kill -9 of one shard under load (the others serve on without one failed request,
the killed one comes back exact), a full restart keeping every acknowledged increment, and a
data dir refused under another shard count."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cluster.common.shards import shard_of
from cluster.ops.local import LocalCluster
from tests.conftest import wait_for
from tests.integration.load import Load

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FOUR = {"METRICS_SHARDS": "4", "METRICS_AGENT__ENABLED": "false"}


def shards(cluster: LocalCluster, node: int = 0) -> list[dict]:
    return cluster.get(node, "/health").json()["shards"]


def on_shard(shard: int, count: int, prefix: str) -> list[str]:
    """`count` labels that live on `shard` of four."""
    found = (f"{prefix}{i}" for i in range(10_000))
    return [label for label in found if shard_of(label, 4) == shard][:count]


class SteadyWriter(threading.Thread):
    """Posts `labels` to every node in turn, once each, no retry: every answer must be 200."""

    def __init__(self, cluster: LocalCluster, labels: list[str]) -> None:
        super().__init__(daemon=True)
        self.cluster, self.labels = cluster, labels
        self.sent: Counter[str] = Counter()
        self.failed: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                url = self.cluster.urls[i % len(self.cluster.urls)]
                body = {"labels": self.labels, "increment": 1}
                r = client.post(f"{url}/metrics", json=body)
                if r.status_code == 200:
                    self.sent.update(self.labels)
                else:
                    self.failed.append(f"{r.status_code} {r.text[:200]}")
                i += 1


def test_first_requests_race_to_create_four_actors(make_cluster):
    cluster = make_cluster(extra_env=FOUR)
    cluster.start()
    assert {s["state"] for s in shards(cluster)} == {"not created"}
    racers = 12
    barrier = threading.Barrier(racers)
    labels = [f"race{i}" for i in range(16)]  # on every shard

    def first_post(i: int) -> httpx.Response:
        barrier.wait()
        return cluster.post(i % 3, labels, 1)

    with ThreadPoolExecutor(racers) as pool:
        responses = list(pool.map(first_post, range(racers)))
    assert [r.status_code for r in responses] == [200] * racers
    seen = [[(s["shard"], s["actor_id"]) for s in shards(cluster, n)] for n in range(3)]
    assert seen[0] == seen[1] == seen[2]  # every node sees the same four actors
    assert len({actor for _, actor in seen[0]}) == 4
    assert cluster.counters() == dict.fromkeys(labels, racers)


def test_a_killed_shard_leaves_the_others_serving_and_comes_back_exact(make_cluster):
    cluster = make_cluster(extra_env=FOUR)
    cluster.start()
    victim = 2
    others = [label for s in (0, 1, 3) for label in on_shard(s, 2, "steady")]
    writer = SteadyWriter(cluster, others)
    cluster.post(0, on_shard(victim, 1, "warm"), 1).raise_for_status()
    before = cluster.counters()
    dead = next(s for s in shards(cluster) if s["shard"] == victim)
    load = Load(cluster, prefix="shardkill")  # retried with its keys: spans the shards
    writer.start()
    load.start()
    wait_for(lambda: load.done_requests >= 100, 60, 0.05, "load to run")
    os.kill(dead["pid"], signal.SIGKILL)
    load.join()
    wait_for(
        lambda: (
            next(s for s in shards(cluster) if s["shard"] == victim).get("epoch", 0) > dead["epoch"]
        ),
        60,
        0.1,
        "the killed shard back",
    )
    mark = writer.sent.total()
    wait_for(lambda: writer.sent.total() > mark + 20, 30, 0.05, "writes after the shard is back")
    writer.stop.set()
    writer.join(30)
    assert writer.failed == [], writer.failed[:5]
    assert writer.sent  # it did write throughout
    after = cluster.counters()
    for label, sent in (load.acked + writer.sent).items():
        assert after.get(label, 0) - before.get(label, 0) == sent, label


def test_a_restart_keeps_every_shard_and_another_count_is_refused(make_cluster):
    cluster = make_cluster(extra_env=FOUR)
    cluster.start()
    load = Load(cluster, prefix="restart", requests=40)
    load.start()
    load.join()
    before = cluster.counters()
    assert {label: before[label] for label in load.acked} == dict(load.acked)
    cluster.stop()
    two = LocalCluster(cluster.data_dir, extra_env={**FOUR, "METRICS_SHARDS": "2"})
    refused = two.supervise("start")
    assert refused.returncode == 1
    assert "holds 4 shard(s) but shards = 2" in refused.stderr
    cluster.start()
    assert cluster.counters() == before
