"""Property-based fuzzing of the whole HTTP API (schemathesis over the OpenAPI document): one
node over an in-process store, served by a real uvicorn on a loopback port. A fixed, seeded
budget, so CI runs the same cases every time.

- schemathesis's own run (`st run`: coverage, fuzzing and stateful phases, every check, with
  schemathesis.toml at the repository's root) finds nothing: no 5xx, no undocumented status or
  body, no schema-valid request refused, no schema-violating one accepted.
- No request gets a 5xx or goes unanswered, and a refused request leaves what the reads answer
  as it was."""

from __future__ import annotations

import socket
import subprocess
import sys
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

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "fuzz-admin-token-0123456789"
EXAMPLES = 12  # per operation and hypothesis test: ~300 requests
ST_EXAMPLES = 20  # per operation and phase of `st run`: ~1,200 requests, ~10 s
# Reads whose answers only requests change (integer windows appear as the clock closes them).
READS = (
    "/metrics",
    "/v1/metrics",
    "/v1/hosts/metrics?limit=10000",
    "/metrics/hourly_logs/per_user",
)


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
    config = uvicorn.Config(
        create_app(s, node=node), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="the fuzzed node to listen")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_schemathesis_finds_nothing_with_every_check(served):
    st = Path(sys.executable).parent / "st"
    command = [
        str(st),
        "run",
        f"{served}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(ST_EXAMPLES),
        "--seed",
        "1",
        "--generation-deterministic",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--no-color",
    ]
    # From the repository's root, so that schemathesis.toml and its hooks are the ones used.
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Configuration:    " + str(ROOT / "schemathesis.toml") in run.stdout
    assert " passed" in run.stdout and "failure" not in run.stdout


def test_no_request_gets_a_5xx_and_refused_ones_change_nothing(served):
    # schemathesis's own pytest plugin does not run under this pytest: each operation's
    # strategy is driven by hypothesis directly.
    api = schemathesis.openapi.from_url(f"{served}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 20
    auth = {"Authorization": f"Bearer {TOKEN}"}
    calls = []

    def reads() -> list[bytes]:
        return [httpx.get(f"{served}{path}", timeout=30).content for path in READS]

    last = [reads()]  # what the reads answered after the previous case

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
            response = case.call(base_url=served, headers=auth, timeout=30)
            calls.append(response.status_code)
            assert response.status_code < 500, f"{response.status_code}: {case.as_curl_command()}"
            now = reads()
            if response.status_code >= 400:
                assert now == last[0], f"refused, yet reads changed: {case.as_curl_command()}"
            last[0] = now

        check()
    assert len(calls) >= len(operations)  # every operation was called
    assert any(code >= 400 for code in calls) and any(code < 300 for code in calls)
