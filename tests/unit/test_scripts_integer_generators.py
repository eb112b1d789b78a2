import asyncio
import json
import random

import httpx
import pytest

from cluster.clients import common as _client
from cluster.common.timeutil import parse_rfc3339
from scripts import integer_generators as ig

URLS = ["http://n:1", "http://n:2", "http://n:3"]
BASE_MS = 1_706_874_180_000  # 2024-02-02T11:43:00Z, a window start


class FakeServer:
    """POST and GET /v1/integers as the contract states them: duplicates of a (generator, seq)
    accepted and ignored, exact averages per 5 s window of event time, newest first. `fail`
    holds failures to give in turn (a status, or an exception class to raise)."""

    def __init__(self) -> None:
        self.fail: list[object] = []
        self.bodies: list[dict] = []
        self.seen: set[tuple[str, int]] = set()
        self.windows: dict[int, list[int]] = {}
        self.skew = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=self.rows())
        body = json.loads(request.content)
        self.bodies.append(body)
        if self.fail:
            failure = self.fail.pop(0)
            if isinstance(failure, int):
                return httpx.Response(failure, json={"code": "late_integer", "message": "late"})
            raise failure("injected", request=request)
        if (body["generator"], body["seq"]) not in self.seen:
            self.seen.add((body["generator"], body["seq"]))
            ms = round(parse_rfc3339(body["timestamp"]) * 1000)
            window = self.windows.setdefault(ms // 5000 * 5000, [0, 0])
            window[0] += body["integer"]
            window[1] += 1
        return httpx.Response(201)

    def rows(self) -> list[dict]:
        return [
            {
                "id": i,
                "integer": total / count + self.skew,
                "created_at": _client.rfc3339_ms(start + 5000).replace(".000Z", "Z"),
            }
            for i, (start, (total, count)) in enumerate(sorted(self.windows.items(), reverse=True))
        ][:10]


def ticking(step_ms: int):
    """A wall clock that moves `step_ms` on every reading."""
    readings = iter(range(BASE_MS, BASE_MS + 10**9, step_ms))
    return lambda: next(readings) / 1000


def generate(server: FakeServer, count: int, step_ms: int = 100, names=("gen-1",)):
    async def scenario() -> tuple[ig.Generators, int, list[str]]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            progress = _client.Progress(emit=lambda _: None)
            run = ig.Generators(
                client,
                _client.Nodes(URLS),
                progress,
                rng=random.Random(5),
                interval=0.0001,
                resend_after=0.0,
                wall=ticking(step_ms),
            )
            await run.run(list(names), _client.Stop(), count)
            lines: list[str] = []
            code = await ig.verify(client, run.nodes, run.ledger, _client.Stop(), emit=lines.append)
            return run, code, lines

    return asyncio.run(scenario())


@pytest.mark.parametrize("failure", [503, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_integer_generator_resends_the_same_seq_and_timestamp_after_a_failure(failure):
    server = FakeServer()
    server.fail = [failure]
    run, _, _ = generate(server, count=3)
    assert [b["seq"] for b in server.bodies] == [1, 1, 2, 3]
    assert server.bodies[0] == server.bodies[1]
    assert run.progress.other["resent"] == 1 and run.progress.ok == 3
    assert sum(total for total, _ in run.ledger.sums.values()) == sum(
        b["integer"] for b in server.bodies[1:]
    )


def test_integer_generator_drops_a_late_integer_without_resending_it():
    server = FakeServer()
    server.fail = [400]
    run, _, _ = generate(server, count=3)
    assert [b["seq"] for b in server.bodies] == [1, 2, 3]
    assert run.progress.other == {"late": 1} and run.progress.ok == 2
    assert sum(count for _, count in run.ledger.sums.values()) == 2


def test_integer_ledger_keeps_exact_averages_per_window_of_event_time():
    ledger = ig.Ledger()
    for ms, integer in [(0, 1), (4999, 2), (2500, 2), (5000, 10000), (9999, 1), (10000, 7)]:
        ledger.add(BASE_MS + ms, integer)
    assert ledger.average(BASE_MS) == 5 / 3
    assert ledger.average(BASE_MS + 5000) == 10001 / 2
    assert ledger.average(BASE_MS + 10000) == 7.0
    assert ledger.average(BASE_MS + 15000) is None


def test_integer_generators_stamp_the_event_time_in_milliseconds():
    server = FakeServer()
    generate(server, count=2, step_ms=4999)
    stamps = [b["timestamp"] for b in server.bodies]
    assert stamps == ["2024-02-02T11:43:04.999Z", "2024-02-02T11:43:09.998Z"]


def test_integer_verify_agrees_with_a_server_averaging_the_same_integers():
    server = FakeServer()
    server.fail = [503, httpx.ReadTimeout]
    run, code, lines = generate(server, count=120, step_ms=50, names=("gen-1", "gen-2"))
    assert code == 0
    assert len(run.ledger.complete()) == 2
    assert lines[-1] == "verify: 2 of 2 windows agree"


def test_integer_verify_fails_when_the_server_average_differs():
    server = FakeServer()
    server.skew = 1e-6
    _, code, lines = generate(server, count=120, step_ms=50, names=("gen-1", "gen-2"))
    assert code == 1
    assert sum("DIFFERENT" in line for line in lines) == 2
