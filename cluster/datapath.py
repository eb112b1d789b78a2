"""The direct path for batches: one TCP connection from each node to the actor's process.

Ray keeps what it is good at: it places the actor, restarts it, names it, and carries every
other call. A batch, though, costs ~2 ms of CPU as a Ray call (submission, scheduling, the
reply) against ~0.1 ms as a frame on a socket, and a busy node sends hundreds a second.

Protocol: frames of a 4-byte big-endian length and an orjson body. The node's first frame is
the secret the actor handed out through Ray (`CounterStore.endpoint`), so only a Ray driver of
this cluster can write. Then each request is `[request_id, batch_id, merged, items]` and each
answer `[request_id, "ok", merged_result, item_results]` or `[request_id, "storage", detail]`,
in any order (requests are pipelined).

Exactly-once holds as on the Ray path: the actor applies a batch inside one synchronous call
(no await between reading the frame and answering), batch ids are deduplicated, and a node that
loses the connection or times out retries the same batch id through Ray.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from cluster.errors import StoreUnavailable
from cluster.storage import StorageError

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
_PAUSE = 1.0  # seconds batches go through Ray after the direct path failed
MAX_FRAME = 1 << 30  # a batch is bounded by max_batch_labels and the nodes' body limits

ApplyNow = Callable[[Any, dict[str, int], list[Any]], tuple[Any, list[Any]]]
Fallback = Callable[[Any, dict[str, int], list[Any]], Awaitable[tuple[Any, list[Any]]]]


def _frame(body: bytes) -> bytes:
    return _LENGTH.pack(len(body)) + body


async def _read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME) -> bytes:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > limit:
        raise ConnectionError(f"frame of {length} bytes exceeds {limit}")
    return await reader.readexactly(length)


class BatchServer:
    """The actor's side: answers batches with `apply_now`, the actor's synchronous apply."""

    def __init__(self, apply_now: ApplyNow) -> None:
        self._apply_now = apply_now
        self.secret = secrets.token_hex(32)
        self._server: asyncio.Server | None = None
        self._starting = asyncio.Lock()

    async def start(self, host: str) -> tuple[str, int]:
        """Listen on `host` (a port of the system's choosing) once; where it listens."""
        async with self._starting:
            if self._server is None:
                self._server = await asyncio.start_server(self._serve, host, 0)
        return host, self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            secret = await _read_frame(reader, limit=len(self.secret))  # before anything big
            if not hmac.compare_digest(secret, self.secret.encode()):
                return
            while True:
                request_id, batch_id, merged, items = orjson.loads(await _read_frame(reader))
                try:
                    merged_result, results = self._apply_now(batch_id, merged, items)
                    answer = [request_id, "ok", merged_result, results]
                except StorageError as exc:
                    answer = [request_id, "storage", str(exc)]
                writer.write(_frame(orjson.dumps(answer)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, orjson.JSONDecodeError):
            pass  # the node went away or spoke nonsense: it retries through Ray
        except Exception:  # a bug in applying: the node's retry through Ray will show it too
            log.exception("direct path: applying a batch failed")
        finally:
            writer.close()


class _Connection:
    """One connection and the requests waiting on it: when it breaks, exactly those fail."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.waiting: dict[int, asyncio.Future[list[Any]]] = {}
        self.reading = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        error: Exception = ConnectionError("the direct path was closed")
        try:
            while True:
                request_id, *answer = orjson.loads(await _read_frame(reader))
                future = self.waiting.get(request_id)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (OSError, asyncio.IncompleteReadError, orjson.JSONDecodeError) as exc:
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
    """The node's side: sends batches over the socket, and through Ray (`fallback`, which has
    the retry rules of cluster/handle.py) whenever the socket cannot answer."""

    def __init__(
        self,
        endpoint: Callable[[], Awaitable[tuple[str, int, str]]],
        fallback: Fallback,
        timeout: Callable[[dict[str, int], list[Any]], float],
    ) -> None:
        self._endpoint = endpoint
        self._fallback = fallback
        self._timeout = timeout
        self._connection: _Connection | None = None
        self._direct_after = 0.0
        self._next_id = 0
        self._connecting = asyncio.Lock()

    async def apply(
        self, batch_id: Any, merged: dict[str, int], items: list[Any]
    ) -> tuple[Any, list[Any]]:
        if time.monotonic() < self._direct_after:
            return await self._fallback(batch_id, merged, items)
        try:
            answer = await asyncio.wait_for(
                self._send(batch_id, merged, items), self._timeout(merged, items)
            )
        except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.warning("direct path failed (%r); batches go through Ray for a while", exc)
            self.close()
            # While the actor restarts (or its port cannot be reached), Ray's retry rules fit;
            # reconnecting for every batch would only add a failed attempt to each.
            self._direct_after = time.monotonic() + _PAUSE
            return await self._fallback(batch_id, merged, items)
        if answer[0] == "storage":
            raise StoreUnavailable(f"the counter store cannot write: {answer[1]}")
        merged_result, results = answer[1], answer[2]
        # JSON has no tuples: a refusal ("limit", detail) comes back as a list.
        return _refusal(merged_result), [_refusal(r) for r in results]

    async def _send(self, batch_id: Any, merged: dict[str, int], items: list[Any]) -> list[Any]:
        connection = await self._connect()
        self._next_id += 1
        request_id = self._next_id
        future = asyncio.get_running_loop().create_future()
        connection.waiting[request_id] = future
        try:
            connection.writer.write(_frame(orjson.dumps([request_id, batch_id, merged, items])))
            await connection.writer.drain()
            return await future
        finally:
            connection.waiting.pop(request_id, None)

    async def _connect(self) -> _Connection:
        async with self._connecting:
            if self._connection is None or not self._connection.alive:
                host, port, secret = await self._endpoint()
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(_frame(secret.encode()))
                self._connection = _Connection(reader, writer)
            return self._connection

    def close(self) -> None:
        """Drop the connection; the next batch reconnects (to a restarted actor's new port)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _refusal(result: Any) -> Any:
    return tuple(result) if isinstance(result, list) else result
