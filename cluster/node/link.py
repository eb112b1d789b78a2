"""The direct path's node side: one TCP connection from this node to the actor's process.

The node learns the address and secret through a Ray call; the protocol is described with the
actor's side (cluster/actor/server.py). Whenever the socket cannot answer (lost, refused, too
slow), the batch goes through `fallback` (a Ray call with its retry rules) with the same batch
id, and the direct path rests for a second: while the actor restarts, Ray's rules fit better
than a failed connection attempt in front of every batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from cluster.common import wire
from cluster.common.channel import Channel, open_handshake

log = logging.getLogger(__name__)

_PAUSE = 1.0  # seconds batches go through Ray after the direct path failed

Endpoint = Callable[[], Awaitable[tuple[str, int, str]]]
Fallback = Callable[[wire.Batch], Awaitable[wire.BatchAnswer]]


class _Connection:
    """One connection and the batches waiting on it: when it breaks, exactly those fail."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.writer = channel.writer
        self.waiting: dict[int, asyncio.Future[wire.BatchAnswer]] = {}
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        error: Exception = ConnectionError("the direct path was closed")
        try:
            while True:
                reply = wire.decode_reply(await self.channel.receive())
                future = self.waiting.get(reply.id)
                if future is not None and not future.done():
                    future.set_result(reply.answer)
        except (OSError, asyncio.IncompleteReadError, wire.DecodeError) as exc:
            error = ConnectionError(f"direct path lost: {exc!r}")
        finally:
            self.writer.close()
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(error)

    @property
    def alive(self) -> bool:
        return not self.reading.done()

    def close(self) -> None:
        self.reading.cancel()


class DirectLink:
    """Sends batches over the socket, and through `fallback` whenever it cannot answer."""

    def __init__(
        self, endpoint: Endpoint, fallback: Fallback, timeout: Callable[[wire.Batch], float]
    ) -> None:
        self._endpoint = endpoint
        self._fallback = fallback
        self._timeout = timeout
        self._connection: _Connection | None = None
        self._direct_after = 0.0
        self._next_id = 0
        self._connecting = asyncio.Lock()

    async def apply(self, batch: wire.Batch) -> wire.BatchAnswer:
        if time.monotonic() < self._direct_after:
            return await self._fallback(batch)
        try:
            return await asyncio.wait_for(self._send(batch), self._timeout(batch))
        except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.warning("direct path failed (%r); batches go through Ray for a while", exc)
            self.close()
            self._direct_after = time.monotonic() + _PAUSE
            return await self._fallback(batch)

    async def _send(self, batch: wire.Batch) -> wire.BatchAnswer:
        connection = await self._connect()
        self._next_id += 1
        request_id = self._next_id
        future = asyncio.get_running_loop().create_future()
        connection.waiting[request_id] = future
        try:
            connection.channel.send(wire.encode(wire.Envelope(request_id, batch)))
            await connection.writer.drain()
            return await future
        finally:
            connection.waiting.pop(request_id, None)

    async def _connect(self) -> _Connection:
        async with self._connecting:
            if self._connection is None or not self._connection.alive:
                host, port, secret = await self._endpoint()
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    channel = await open_handshake(reader, writer, secret.encode())
                except BaseException:
                    writer.close()
                    raise
                self._connection = _Connection(channel)
            return self._connection

    def close(self) -> None:
        """Drop the connection; the next batch reconnects (to a restarted actor's new port)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
