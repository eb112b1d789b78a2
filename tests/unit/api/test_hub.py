"""The node's fan-out (api/live/hub.py) over a fake read: one read a tick whatever the number
of clients, one frame for all, bounded queues, and feeds that run only while needed."""

from __future__ import annotations

import asyncio

import orjson

from api.live.hub import Hub
from api.live.phoenix import LOBBY
from cluster.common import wire
from cluster.common.config import LiveSettings
from cluster.common.errors import StoreUnavailable


class Reads:
    def __init__(self, fail_first: int = 0) -> None:
        self.count = 0
        self._fail = fail_first

    async def __call__(self, query: wire.Read) -> list[dict]:
        assert isinstance(query, wire.NewestHosts)
        self.count += 1
        if self.count <= self._fail:  # the actor restarting, then a failure of any kind
            raise StoreUnavailable("restarting") if self.count % 2 else RuntimeError("boom")
        return [{"id": "h1", "n": self.count}]


async def _until(condition, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def test_one_read_a_tick_for_every_client_and_one_frame_for_all():
    async def run() -> None:
        reads = Reads()
        hub = Hub(reads, LiveSettings(interval=0.02, client_queue=100))
        clients = [hub.connect(f"10.0.0.{i}") for i in range(50)]
        for client in clients:
            hub.join(client, LOBBY)
        await _until(lambda: all(c.frames.qsize() >= 3 for c in clients))
        firsts = [c.frames.get_nowait() for c in clients]
        assert len({id(f) for f in firsts}) == 1  # encoded once, the same string to all
        assert orjson.loads(firsts[0])[3:] == ["metrics_data", {"metrics": [{"id": "h1", "n": 1}]}]
        # ~one read a tick, not one a client a tick
        assert reads.count <= max(c.frames.qsize() for c in clients) + 2
        await hub.close()

    asyncio.run(run())


def test_a_client_that_falls_behind_is_marked_too_slow_not_grown():
    async def run() -> None:
        hub = Hub(Reads(), LiveSettings(interval=0.01, client_queue=3))
        slow, fine = hub.connect("a"), hub.connect("a")
        hub.join(slow, LOBBY)
        hub.join(fine, LOBBY)

        async def drain() -> None:
            while True:
                await fine.frames.get()

        draining = asyncio.create_task(drain())
        await _until(slow.too_slow.is_set)
        assert slow.frames.qsize() == 3  # bounded: never more than its queue
        assert not fine.too_slow.is_set()
        draining.cancel()
        await hub.close()

    asyncio.run(run())


def test_a_feed_runs_only_while_its_topic_has_members_and_outlives_read_errors():
    async def run() -> None:
        reads = Reads(fail_first=2)
        hub = Hub(reads, LiveSettings(interval=0.01, max_clients=2))
        first, second = hub.connect("a"), hub.connect("b")
        assert "try another node" in hub.connect("c")  # max_clients
        hub.join(first, LOBBY)
        hub.join(second, LOBBY)
        await _until(lambda: first.frames.qsize() >= 1)  # after two failed reads
        assert orjson.loads(first.frames.get_nowait())[4]["metrics"][0]["n"] == 3
        hub.leave(first, LOBBY)
        assert hub.stats()["topics"] == {LOBBY: 1}
        feed = hub._feeds["hosts"]
        hub.disconnect(second)
        assert hub.stats() == {"clients": 1, "max_clients": 2, "addresses": 1, "topics": {}}
        await _until(feed.done)
        assert feed.cancelled()  # no member, no more reads
        await hub.close()

    asyncio.run(run())


def test_one_address_cannot_take_every_slot_and_gets_its_slots_back():
    hub = Hub(Reads(), LiveSettings(max_clients=10, max_clients_per_address=2))
    first, second = hub.connect("10.0.0.1"), hub.connect("10.0.0.1")
    assert "this address" in hub.connect("10.0.0.1")
    other = hub.connect("10.0.0.2")
    assert not isinstance(other, str)  # another address still gets in
    hub.disconnect(first)
    hub.disconnect(first)  # twice: counted once
    assert not isinstance(hub.connect("10.0.0.1"), str)
    assert "this address" in hub.connect("10.0.0.1")
    hub.disconnect(second)
    assert hub.stats()["clients"] == 2
