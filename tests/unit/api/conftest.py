"""Route tests: one node's real app (api.app.create_app) over `tests.fakes.InProcessStore`, a
real MetricsActor in this process. No Ray, no uvicorn, no socket: each test gets a fresh actor
on its own SQLite file, so no test depends on what another one posted."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from cluster.common.config import ENV_PREFIX, Settings
from cluster.common.shards import db_name
from cluster.node.discovery import Discovery
from cluster.node.node import Node
from tests.fakes import InProcessStore

MakeClient = Callable[..., TestClient]


def unit_settings(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **overrides: Any) -> Settings:
    """Settings of the first default node, from nothing but `overrides`: no METRICS_* variable
    of the caller's shell and no cluster.toml (an empty one is named instead) reach them."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    data_dir.mkdir(parents=True, exist_ok=True)
    empty = data_dir / "empty.toml"
    empty.write_text("")
    monkeypatch.setenv(f"{ENV_PREFIX}CONFIG", str(empty))
    given: dict[str, Any] = {"data_dir": data_dir, "agent": {"enabled": False}, **overrides}
    first = Settings(**given).nodes[0].name
    return Settings(**{"node_name": first, **given})


def actor_limits(settings: Settings, **limits: Any) -> dict[str, Any]:
    """MetricsActor's keyword arguments as a node creates it from `settings`
    (cluster/node/ray_client.py), with `limits` on top; `record_limits` is merged into the
    settings' record limits."""
    kwargs: dict[str, Any] = {
        "durability": settings.durability,
        "max_counters": settings.max_counters,
        "dedup_window": settings.dedup_window,
        "idempotency_window": settings.idempotency_window,
        "snapshot_every": settings.snapshot_every,
        "record_limits": settings.buffers.record_limits(),
        "records_snapshot_seconds": settings.buffers.snapshot_seconds,
    }
    record_limits = limits.pop("record_limits", None) or {}
    kwargs["record_limits"] = {**kwargs["record_limits"], **record_limits}
    return {**kwargs, **limits}


def _no_peer(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no peers in route tests", request=request)


@pytest.fixture(params=[1, 4], ids=["1-shard", "4-shards"])
def make_client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[MakeClient]:
    """`make_client(settings=None, **limits)`: a started TestClient of a fresh node (its
    lifespan has run). `settings`: Settings fields to override; `limits`: MetricsActor keyword
    arguments (max_counters=..., record_limits={...}) over those the settings give. Every
    client made is closed (the node drained, the actor's log closed) at the end of the test.
    Every test runs twice: on one shard, and on four (one in-process actor each), unless its
    settings name `shards`."""
    with contextlib.ExitStack() as stack:
        made = 0

        def make(settings: dict[str, Any] | None = None, **limits: Any) -> TestClient:
            nonlocal made
            made += 1
            given = {"shards": request.param, **(settings or {})}
            s = unit_settings(monkeypatch, tmp_path / f"node{made}", **given)
            stores = [
                InProcessStore(s.data_dir / db_name(i), **actor_limits(s, shard=i, **limits))
                for i in range(s.shards)
            ]
            node = Node(s, stores)
            # Peers are probed through a transport that reaches no network: they show "down".
            peers = [n for n in s.nodes if n.name != s.node_name]
            asyncio.run(node.discovery.close())  # the one Node made, never used
            node.discovery = Discovery(
                peers,
                s.discovery_interval,
                s.discovery_timeout,
                transport=httpx.MockTransport(_no_peer),
            )
            client = TestClient(create_app(s, node=node))
            stack.enter_context(client)  # runs the lifespan: node.start() ... node.close()
            return client

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    """A started node with the default settings and limits."""
    return make_client()
