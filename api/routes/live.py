"""`/socket/websocket`: Phoenix channels (serializer v2) over a WebSocket, as the original
metricSys broadcaster served them, so phoenix.js clients work unchanged. The protocol is
api/live/phoenix.py, the feeds api/live/hub.py; this route moves frames between the two.

Closes, each with a reason: a `vsn` other than 2.0.0 (refused before the upgrade, HTTP 403),
a node holding `live.max_clients` sockets, or `live.max_clients_per_address` from the
client's address (1013, try again later), a binary frame (1003), a
frame that is not `[join_ref, ref, topic, event, payload]` (1007), a frame past
`live.max_frame_bytes` (1009, by uvicorn), nothing received for `live.idle_timeout` (1000),
a client too slow to take its frames (1008). phoenix.js reconnects after any of them."""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from api.live.hub import Client, Hub
from api.live.phoenix import (
    COUNTERS,
    LOBBY,
    SERIES,
    VERSION,
    WELCOME,
    FrameError,
    Session,
    decode,
)
from cluster.common.config import LiveSettings

router = APIRouter()
_CLOSE_WAIT = 2.0  # seconds the close handshake may take
MAX_NAME = 1024  # of a metric name in a series topic


@router.websocket("/socket/websocket")
async def phoenix_socket(websocket: WebSocket) -> None:
    settings: LiveSettings = websocket.app.state.settings.live
    hub: Hub = websocket.app.state.hub
    vsn = websocket.query_params.get("vsn", VERSION)
    if vsn != VERSION:
        await websocket.close(1008, _reason(f"serializer vsn {vsn!r} is not supported; use 2.0.0"))
        return
    client = hub.connect(websocket.client.host if websocket.client else "")
    if isinstance(client, str):
        await websocket.close(1013, client)
        return
    try:
        await websocket.accept()
        sending = asyncio.create_task(_send(websocket, client))
        try:
            code, reason = await _receive(websocket, client, hub, settings)
        finally:
            sending.cancel()
    finally:
        hub.disconnect(client)  # its slot and frames freed before the close, however long
    # Bounded: a client that reads nothing never answers the close handshake, which would hold
    # this task (and a node's shutdown) for the protocol's own 10 s timeouts.
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, TimeoutError):
        await asyncio.wait_for(websocket.close(code, reason), _CLOSE_WAIT)


async def _send(websocket: WebSocket, client: Client) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # closed: nothing to send to
        while True:
            await websocket.send_text(await client.frames.get())


async def _receive(
    websocket: WebSocket, client: Client, hub: Hub, settings: LiveSettings
) -> tuple[int, str]:
    """Frames until the socket ends; the close code and reason to send (the client's own
    close needs none, but sending one is harmless)."""
    session = Session(_join_reply)
    slow = asyncio.create_task(client.too_slow.wait())
    idle_timeout, rate = settings.idle_timeout, settings.max_frames_per_second
    allowance, last = 2 * rate, time.monotonic()  # a token bucket: a burst of twice the rate
    try:
        while True:
            receiving = asyncio.create_task(websocket.receive())
            done, _ = await asyncio.wait(
                {receiving, slow}, timeout=idle_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                receiving.cancel()
                return 1000, f"nothing received for {idle_timeout:g} s (send heartbeats)"
            if slow in done:
                receiving.cancel()
                return 1008, f"too slow: {client.frames.qsize()} frames waiting"
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                return 1000, ""
            now = time.monotonic()
            allowance = min(2 * rate, allowance + (now - last) * rate) - 1
            last = now
            if allowance < 0:
                return 1008, f"more than {rate:g} frames a second; phoenix.js sends far fewer"
            text = message.get("text")
            if text is None:
                return 1003, "binary frames are not supported; send JSON text frames"
            try:
                frame = decode(text)
            except FrameError as exc:
                return 1007, _reason(str(exc))
            replies, joined, left = session.handle(frame)
            if joined is not None:
                hub.join(client, joined)
            if left is not None:
                hub.leave(client, left)
            for reply in replies:
                client.offer(reply)
    finally:
        slow.cancel()


def _join_reply(topic: str) -> dict[str, str] | None:
    """What joining `topic` answers; None: no such topic."""
    if topic == LOBBY:
        return WELCOME
    if topic == COUNTERS or (topic.startswith(SERIES) and 0 < len(topic) - len(SERIES) <= MAX_NAME):
        return {}
    return None


def _reason(text: str) -> str:
    """A close reason: at most 123 bytes of UTF-8."""
    return text.encode()[:123].decode(errors="ignore")
