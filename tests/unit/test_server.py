"""The direct path's server under hostile connections: silent ones are bounded in number and
time, and a frame that does not authenticate is never applied."""

import asyncio

import pytest

from cluster.actor import server as server_module
from cluster.actor.server import BatchServer
from cluster.common import channel as channel_module
from cluster.common import wire
from cluster.common.channel import open_handshake


class Counting:
    def __init__(self) -> None:
        self.batches: list[wire.BatchId] = []

    def __call__(self, batch: wire.Batch) -> wire.BatchAnswer:
        self.batches.append(batch.id)
        return wire.BatchDone(wire.Applied(batch.merged), [])


def envelope(seq: int) -> bytes:
    batch = wire.Batch(wire.BatchId("n", seq), {"a": 1})
    return wire.encode(wire.Envelope(seq, batch))


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closes this connection within `within` seconds (EOF)."""
    try:
        while await asyncio.wait_for(reader.read(1024), within):
            pass
    except TimeoutError:
        return False
    return True


def test_silent_connections_past_the_cap_are_closed_at_once(monkeypatch):
    monkeypatch.setattr(server_module, "MAX_HANDSHAKING", 4)

    async def scenario():
        server = BatchServer(Counting())
        host, port = await server.start("127.0.0.1")
        held = [await asyncio.open_connection(host, port) for _ in range(4)]
        async with asyncio.timeout(5):  # the server has accepted them all
            while server._handshaking < 4:
                await asyncio.sleep(0.01)
        extra = [await asyncio.open_connection(host, port) for _ in range(3)]
        assert [await closed(r, 2.0) for r, _ in extra] == [True] * 3
        assert [await closed(r, 0.2) for r, _ in held] == [False] * 4
        for _, writer in held + extra:
            writer.close()
        await server.close()

    asyncio.run(scenario())


def test_a_silent_connection_is_closed_after_the_handshake_timeout(monkeypatch):
    monkeypatch.setattr(channel_module, "HANDSHAKE_TIMEOUT", 0.3)

    async def scenario():
        server = BatchServer(Counting())
        reader, writer = await asyncio.open_connection(*await server.start("127.0.0.1"))
        assert await closed(reader, 5.0)
        writer.close()
        await server.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("attack", ["tampered", "replayed", "unsigned"])
def test_a_frame_that_does_not_authenticate_closes_the_connection_unapplied(attack):
    async def scenario():
        answer = Counting()
        server = BatchServer(answer)
        reader, writer = await asyncio.open_connection(*await server.start("127.0.0.1"))
        channel = await open_handshake(reader, writer, server.secret.encode())
        if attack == "unsigned":
            writer.write(wire.frame(envelope(1)))
        else:
            frames = []
            channel.writer = _Capture(writer, frames)
            channel.send(envelope(1))
            raw = frames[0]
            if attack == "tampered":
                raw = raw[:-1] + bytes([raw[-1] ^ 1])
                writer.write(raw)
            else:
                writer.write(raw)
                writer.write(raw)  # the same frame again
        assert await closed(reader, 5.0)
        assert answer.batches == ([wire.BatchId("n", 1)] if attack == "replayed" else [])
        writer.close()
        await server.close()

    asyncio.run(scenario())


def test_a_client_without_the_secret_is_refused():
    async def scenario():
        answer = Counting()
        server = BatchServer(answer)
        reader, writer = await asyncio.open_connection(*await server.start("127.0.0.1"))
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await open_handshake(reader, writer, b"not the secret")
        writer.close()
        await server.close()

    asyncio.run(scenario())


class _Capture:
    """A writer that keeps what is written instead of sending it."""

    def __init__(self, writer: asyncio.StreamWriter, into: list[bytes]) -> None:
        self._writer = writer
        self._into = into

    def write(self, data: bytes) -> None:
        self._into.append(data)
