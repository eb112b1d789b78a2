import asyncio

import httpx
import pytest

from cluster.clients import common as _client
from cluster.common.timeutil import parse_rfc3339

URLS = ["http://n:1", "http://n:2", "http://n:3"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def post_all(nodes: _client.Nodes, handler, times: int) -> list[int]:
    """POST `times` times through `nodes`; the port of the node that answered each."""

    async def scenario() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return [
                (await nodes.request(client, "POST", "/x", json={})).request.url.port
                for _ in range(times)
            ]

    return asyncio.run(scenario())


def test_nodes_spread_requests_round_robin():
    ports = post_all(_client.Nodes(URLS), lambda _: httpx.Response(201), 6)
    assert ports == [1, 2, 3, 1, 2, 3]


def test_nodes_fail_over_past_a_refusing_node_and_retry_it_after_the_cooldown():
    clock = FakeClock()
    tried: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.port)
        if request.url.port == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201)

    nodes = _client.Nodes(URLS, rotate=False, cooldown=5.0, clock=clock)
    assert post_all(nodes, handler, 2) == [2, 2]
    assert tried == [1, 2, 2]  # the refusing node is tried last while it cools down
    clock.now += 5.0
    assert post_all(nodes, handler, 1) == [2]
    assert tried[3:] == [1, 2]


def test_nodes_raise_a_read_timeout_instead_of_sending_it_elsewhere():
    tried: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.port)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(httpx.ReadTimeout):
        post_all(_client.Nodes(URLS), handler, 1)
    assert tried == [1]  # it may have been applied: resending is the caller's call


def test_nodes_raise_when_no_node_accepts_a_connection():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(httpx.ConnectError):
        post_all(_client.Nodes(URLS), handler, 1)


def test_rfc3339_ms_formats_milliseconds_in_utc():
    assert _client.rfc3339_ms(1_706_874_182_099) == "2024-02-02T11:43:02.099Z"
    assert parse_rfc3339("2024-02-02T11:43:02.099Z") == 1_706_874_182.099


def test_throttled_log_holds_lines_back_and_counts_them():
    clock = FakeClock()
    lines: list[str] = []
    warn = _client.Throttled(lines.append, every=5.0, clock=clock)
    for i in range(4):
        warn(f"failure {i}")
    clock.now += 5.0
    warn("failure 4")
    assert lines == ["failure 0", "failure 4 (and 3 more since the last line)"]
