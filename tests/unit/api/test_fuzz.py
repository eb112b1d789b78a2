"""Property-based fuzzing of the whole HTTP API (schemathesis over the OpenAPI document): one
node over an in-process store, served by a real uvicorn on a loopback port. No request gets a
5xx or goes unanswered, and a refused request leaves the counters as they were. A fixed,
derandomized budget, so CI runs the same cases every time."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from cluster.node.discovery import Discovery
from cluster.node.node import Node
from tests.conftest import wait_for
from tests.fakes import InProcessStore
from tests.unit.api.conftest import _no_peer, actor_limits, unit_settings

TOKEN = "fuzz-admin-token-0123456789"
EXAMPLES = 12  # per operation: ~300 requests in all


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        s = unit_settings(patch, Path(tmp_path_factory.mktemp("fuzz")), admin_token=TOKEN)
    node = Node(s, InProcessStore(s.db_path, **actor_limits(s)))
    peers = [n for n in s.nodes if n.name != s.node_name]
    transport = httpx.MockTransport(_no_peer)  # no probe leaves the process
    node.discovery = Discovery(peers, s.discovery_interval, s.discovery_timeout, transport)
    port = _free_port()
    config = uvicorn.Config(create_app(s, node=node), host="127.0.0.1", port=port)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="the fuzzed node to listen")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_no_request_gets_a_5xx_and_refused_ones_change_nothing(served):
    # schemathesis's own pytest plugin does not run under this pytest: each operation's
    # strategy is driven by hypothesis directly.
    api = schemathesis.openapi.from_url(f"{served}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 20
    auth = {"Authorization": f"Bearer {TOKEN}"}
    calls = []

    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            before = httpx.get(f"{served}/metrics", timeout=30).content
            response = case.call(base_url=served, headers=auth, timeout=30)
            calls.append(response.status_code)
            assert response.status_code < 500, f"{response.status_code}: {case.as_curl_command()}"
            if response.status_code >= 400:
                after = httpx.get(f"{served}/metrics", timeout=30).content
                assert after == before, f"refused, yet counters changed: {case.as_curl_command()}"

        check()
    assert len(calls) >= len(operations)  # every operation was called
    assert any(code >= 400 for code in calls) and any(code < 300 for code in calls)
