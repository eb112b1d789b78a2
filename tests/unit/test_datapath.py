"""The direct path on a real socket, with a real CounterStore behind it (no Ray)."""

import asyncio

import pytest

from cluster.datapath import BatchServer, DirectLink
from cluster.errors import StoreUnavailable
from cluster.storage import StorageError
from cluster.store import CounterStore


class Fallback:
    """Stands in for the Ray path: records what it carried, applies it to the same store."""

    def __init__(self, store: CounterStore) -> None:
        self.store = store
        self.carried: list = []

    async def __call__(self, batch_id, merged, items):
        self.carried.append(batch_id)
        return self.store.apply_now(batch_id, merged, items)


def link_to(server: BatchServer, fallback, secret: str | None = None) -> DirectLink:
    async def endpoint():
        host, port = await server.start("127.0.0.1")
        return host, port, secret or server.secret

    return DirectLink(endpoint, fallback, lambda *_: 2.0)


async def shut(link: DirectLink, server: BatchServer) -> None:
    link.close()
    if server._server is not None:
        server._server.close()
        await server._server.wait_closed()


def test_batches_go_over_the_socket_with_values_and_refusals(tmp_path):
    async def scenario():
        store = CounterStore(str(tmp_path / "c.sqlite3"), max_counters=2)
        server, fallback = BatchServer(store.apply_now), Fallback(store)
        link = link_to(server, fallback)
        assert await link.apply(("n", 1), {"a": 2, "b": 1}, []) == ({"a": 2, "b": 1}, [])
        item = ([(["c"], 1)], None, [])  # a third counter: over the limit
        _, results = await link.apply(("n", 0), {}, [item])
        assert results[0][0] == "limit" and isinstance(results[0], tuple)
        answers = await asyncio.gather(*(link.apply(("n", i), {"a": 1}, []) for i in range(2, 12)))
        assert sorted(m["a"] for m, _ in answers) == list(range(3, 13))  # pipelined, each once
        assert fallback.carried == []
        await shut(link, server)

    asyncio.run(scenario())


def test_lost_connection_retries_the_same_batch_through_the_fallback(tmp_path):
    async def scenario():
        store = CounterStore(str(tmp_path / "c.sqlite3"))
        server, fallback = BatchServer(store.apply_now), Fallback(store)
        link = link_to(server, fallback)
        await link.apply(("n", 1), {"a": 1}, [])
        server._server.close()  # the actor went away: its connections drop
        await server._server.wait_closed()
        link.close()
        server._server = None
        assert (await link.apply(("n", 2), {"a": 1}, []))[0] == {"a": 2}  # reconnects
        assert fallback.carried == []
        bad = link_to(server, fallback, secret="wrong")
        assert (await bad.apply(("n", 2), {"a": 1}, []))[0] == {"a": 2}  # a repeat: no change
        assert fallback.carried == [("n", 2)]
        await shut(link, server)
        await shut(bad, server)

    asyncio.run(scenario())


def test_store_that_cannot_write_is_a_503_not_a_crash():
    def broken(*_):
        raise StorageError("/data/c.sqlite3: cannot write: disk I/O error")

    async def scenario():
        server = BatchServer(broken)
        link = link_to(server, Fallback(None))
        with pytest.raises(StoreUnavailable, match="disk I/O error"):
            await link.apply(("n", 1), {"a": 1}, [])
        await shut(link, server)

    asyncio.run(scenario())
