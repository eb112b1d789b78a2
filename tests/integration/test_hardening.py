"""Hostile and unlucky requests against a real cluster: each gets its 4xx, the others' requests
keep succeeding, and nothing is logged as a warning when nothing is wrong."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from cluster.common.wire import MAX_VALUE
from cluster.ops.local import LocalCluster
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> LocalCluster:
    cluster = LocalCluster(
        tmp_path_factory.mktemp("hardening"),
        # Buffers saved every second, so a test sees a save land.
        extra_env={"METRICS_MAX_IDEMPOTENCY_KEYS": "20", "METRICS_BUFFERS__SNAPSHOT_SECONDS": "1"},
    )
    cluster.start()
    yield cluster
    cluster.stop()


async def _post_all(cluster: LocalCluster, bodies: list[tuple[int, dict, dict]]) -> list:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post(f"{cluster.urls[node]}/metrics", json=body, headers=headers)
                for node, body, headers in bodies
            )
        )


def test_right_after_start_every_node_sees_every_peer_up(fresh: LocalCluster):
    # No polling: `start` returned, so the views must already be true.
    for node in range(3):
        peers = fresh.get(node, "/cluster").json()["peers"]
        assert {p["name"]: p["status"] for p in peers} == dict.fromkeys(fresh.names, "up")


def test_first_requests_on_every_node_log_no_warning(fresh: LocalCluster):
    # The very first requests race the actor's creation from three nodes at once.
    answers = asyncio.run(
        _post_all(fresh, [(n, {"labels": ["first"], "increment": 1}, {}) for n in range(3)])
    )
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert fresh.counters()["first"] == 3
    for name in fresh.names:
        text = (fresh.data_dir / "run" / f"{name}.log").read_text()
        warnings = [line for line in text.splitlines() if "WARNING" in line or "Error" in line]
        assert warnings == [], f"{name}: {warnings}"


def test_an_overflowing_request_fails_alone_and_its_batch_neighbours_succeed(fresh: LocalCluster):
    hostile = {"labels": ["z", "z", "z"], "increment": MAX_VALUE}
    bodies = [(0, hostile, {})]
    bodies += [(0, {"labels": ["calm"], "increment": 1}, {}) for _ in range(30)]
    bodies += [(0, {"labels": ["keyed"], "increment": 2}, {"Idempotency-Key": "nb-1"})]
    answers = asyncio.run(_post_all(fresh, bodies))
    assert answers[0].status_code == 409, answers[0].text
    assert "'z'" in answers[0].json()["detail"]
    assert [a.status_code for a in answers[1:]] == [200] * 31
    counters = fresh.counters()
    assert counters["calm"] == 30 and counters["keyed"] == 2 and "z" not in counters


def test_idempotency_keys_past_the_bound_get_429_and_unkeyed_requests_go_on(fresh: LocalCluster):
    statuses = []
    for i in range(25):
        answer = fresh_post(fresh, f"bound-{i}")
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert answer.headers["retry-after"].isdigit()
            assert "Idempotency-Keys" in answer.json()["detail"]
    assert 200 in statuses and statuses[-1] == 429
    plain = fresh.post(1, ["unkeyed"], 1)
    assert plain.status_code == 200
    held = fresh.get(0, "/health").json()["actor"]["idempotency_keys"]
    assert held["held"] <= held["max"] == 20


def test_state_files_are_private(fresh: LocalCluster):
    fresh.post(0, ["private"], 1).raise_for_status()  # the actor and its log exist
    data = fresh.data_dir
    private = [data, data / "run", data / "counters.sqlite3", data / "counters.sqlite3-wal"]
    private += list((data / "run").glob("*.log"))
    ray_parent = (data / "run" / "ray").resolve().parent
    private.append(ray_parent)
    modes = {str(path): oct(path.stat().st_mode & 0o777) for path in private}
    assert all(int(mode, 8) & 0o077 == 0 for mode in modes.values()), modes
    assert ray_parent.stat().st_uid == os.getuid()


def test_health_shows_the_buffers_and_their_saves_and_the_state_file_is_private(
    fresh: LocalCluster,
):
    sample = {"timestamp": "2024-02-02T11:43:02Z", "name": "saved_temp", "value": 30}
    answer = httpx.post(f"{fresh.urls[1]}/v1/metrics", json=sample, timeout=15)
    assert answer.status_code == 201, answer.text

    def saved() -> dict | None:
        actor = fresh.get(2, "/health").json()["actor"]
        files = list(fresh.data_dir.glob("counters.sqlite3.state.*"))
        held = actor["records"]["series"]["series"] >= 1
        return actor if held and files and actor["record_saves"]["last_ok_at"] else None

    actor = wait_for(saved, timeout=30, what="a save of the buffers holding the sample")
    assert actor["record_saves"]["failures"] == 0 and actor["record_saves"]["last"]["bytes"] > 0
    assert actor["records"]["series"]["max_series"] == 1000
    modes = []
    for path in fresh.data_dir.glob("counters.sqlite3.state.*"):
        try:  # saves go on (the host agents' rows): a file may be replaced meanwhile
            modes.append(path.stat().st_mode & 0o777)
        except FileNotFoundError:
            continue
    assert modes and all(mode & 0o077 == 0 for mode in modes), modes


def fresh_post(cluster: LocalCluster, key: str) -> httpx.Response:
    return httpx.post(
        f"{cluster.urls[2]}/metrics",
        json={"labels": ["bounded"], "increment": 1},
        headers={"Idempotency-Key": key},
        timeout=15,
    )
