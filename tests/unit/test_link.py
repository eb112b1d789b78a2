"""The direct path on a real socket, with a real actor behind it (no Ray)."""

import asyncio

from cluster.actor import MetricsActor
from cluster.actor.server import BatchServer
from cluster.common import wire
from cluster.node.link import DirectLink


def batch(seq, merged, requests=()):
    return wire.Batch(wire.BatchId("n", seq), merged, list(requests))


class Fallback:
    """Stands in for the Ray path: records what it carried, applies it to the same actor."""

    def __init__(self, actor: MetricsActor | None) -> None:
        self.actor = actor
        self.carried: list = []

    async def __call__(self, batch):
        self.carried.append(batch.id)
        return self.actor.answer(batch)


def link_to(server: BatchServer, fallback, secret: str | None = None) -> DirectLink:
    async def endpoint():
        host, port = await server.start("127.0.0.1")
        return host, port, secret or server.secret

    return DirectLink(endpoint, fallback, lambda _: 2.0)


def test_batches_go_over_the_socket_with_values_and_refusals(tmp_path):
    async def scenario():
        actor = MetricsActor(str(tmp_path / "c.sqlite3"), max_counters=2)
        server, fallback = BatchServer(actor.answer), Fallback(actor)
        link = link_to(server, fallback)
        done = await link.apply(batch(1, {"a": 2, "b": 1}))
        assert done == wire.BatchDone(wire.Applied({"a": 2, "b": 1}), [])
        third = wire.Request([wire.Increment(["c"], 1)])  # a third counter: over the limit
        done = await link.apply(batch(0, {}, [third]))
        assert isinstance(done.requests[0], wire.Refused) and done.requests[0].reason == "limit"
        answers = await asyncio.gather(*(link.apply(batch(i, {"a": 1})) for i in range(2, 12)))
        assert sorted(d.merged.values["a"] for d in answers) == list(range(3, 13))  # each once
        assert fallback.carried == []
        link.close()
        await server.close()
        await actor.close()

    asyncio.run(scenario())


def test_lost_connection_retries_the_same_batch_through_the_fallback(tmp_path):
    async def scenario():
        actor = MetricsActor(str(tmp_path / "c.sqlite3"))
        server, fallback = BatchServer(actor.answer), Fallback(actor)
        link = link_to(server, fallback)
        await link.apply(batch(1, {"a": 1}))
        await server.close()  # the actor went away: its connections drop
        done = await link.apply(batch(2, {"a": 1}))  # the lost connection: through Ray
        assert done.merged == wire.Applied({"a": 2}) and fallback.carried == [wire.BatchId("n", 2)]
        bad = link_to(server, fallback, secret="wrong")
        done = await bad.apply(batch(2, {"a": 1}))  # refused by the server: a repeat, no change
        assert done.merged == wire.Applied({"a": 2})
        assert fallback.carried == [wire.BatchId("n", 2)] * 2
        link.close()
        bad.close()
        await server.close()
        await actor.close()

    asyncio.run(scenario())


def test_store_that_cannot_write_answers_store_failed_not_a_crash():
    def broken(_batch):
        return wire.StoreFailed("/data/c.sqlite3: cannot write: disk I/O error")

    async def scenario():
        server = BatchServer(broken)
        link = link_to(server, Fallback(None))
        answer = await link.apply(batch(1, {"a": 1}))
        assert answer == wire.StoreFailed("/data/c.sqlite3: cannot write: disk I/O error")
        link.close()
        await server.close()

    asyncio.run(scenario())
