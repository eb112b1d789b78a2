"""The direct path's actor side: a TCP server in the actor's process that answers batches.

Ray keeps what it is good at: it places the actor, restarts it, names it, and carries every
other call. A batch, though, costs ~2 ms of CPU as a Ray call (submission, scheduling, the
reply) against ~0.1 ms as a frame on a socket, and a busy node sends hundreds a second.

Protocol: an authenticated channel (cluster/common/channel.py) keyed by the secret the actor
hands out through Ray (`MetricsActor.endpoint`), so only a Ray driver of this cluster can write,
and every frame is checked. Then each frame is an `Envelope` (a numbered batch), each answer a
`Reply` with the same number, in any order (requests are pipelined). The node's side is
cluster/node/link.py.

Connections are bounded: at most `MAX_HANDSHAKING` may be authenticating at once (each for at
most the handshake's timeout) and `MAX_CONNECTIONS` in all; past either a new one is closed at
once. A peer that fails the handshake or sends a frame that does not authenticate is dropped
with nothing applied. Nodes are few and keep one connection each, so the bounds never touch
them; a local user opening hundreds of silent connections cannot exhaust the actor's files.

Exactly-once holds as on the Ray path: a batch is applied inside one synchronous call (no await
between reading the frame and answering), batch ids are deduplicated, and a node that loses the
connection or times out retries the same batch id through Ray.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from cluster.common import wire
from cluster.common.channel import ChannelError, serve_handshake

log = logging.getLogger(__name__)

MAX_HANDSHAKING = 32
MAX_CONNECTIONS = 256


class BatchServer:
    """Answers batches with `answer`, the actor's synchronous apply."""

    def __init__(self, answer: Callable[[wire.Batch], wire.BatchAnswer]) -> None:
        self._answer = answer
        self.secret = secrets.token_hex(32)
        self._server: asyncio.Server | None = None
        self._starting = asyncio.Lock()
        self._connections: set[asyncio.StreamWriter] = set()
        self._handshaking = 0

    async def start(self, host: str) -> tuple[str, int]:
        """Listen on `host` (a port of the system's choosing) once; where it listens."""
        async with self._starting:
            if self._server is None:
                self._server = await asyncio.start_server(self._serve, host, 0)
        return host, self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every connection (nodes then retry through Ray)."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._handshaking >= MAX_HANDSHAKING or len(self._connections) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._connections.add(writer)
        try:
            self._handshaking += 1
            try:
                channel = await serve_handshake(reader, writer, self.secret.encode())
            finally:
                self._handshaking -= 1
            while True:
                envelope = wire.decode_envelope(await channel.receive())
                answer = self._answer(envelope.batch)
                channel.send(wire.encode(wire.Reply(envelope.id, answer)))
                await writer.drain()
        except ChannelError as exc:
            log.warning("direct path: dropped a connection: %s", exc)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, wire.DecodeError):
            pass  # the node went away, was too slow or spoke nonsense: it retries through Ray
        except Exception:  # a bug in applying: the node's retry through Ray will show it too
            log.exception("direct path: applying a batch failed")
        finally:
            self._connections.discard(writer)
            writer.close()
