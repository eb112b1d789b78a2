"""An authenticated stream of frames between a node and the actor (the direct path).

Both ends know a secret (the actor hands it out through Ray, so only a Ray driver of this
cluster learns it). It never crosses the socket:
1. the server sends a random 16-byte nonce;
2. the client answers its own nonce and HMAC-SHA256(secret, "hello" | server nonce | client
   nonce); the server checks it in constant time, within `HANDSHAKE_TIMEOUT`;
3. the server answers HMAC(secret, "welcome" | client nonce | server nonce), so the client
   knows it reached the actor and not something that took its port;
4. each frame after that carries HMAC(key, direction | sequence | body), where key =
   HMAC(secret, "key" | both nonces) is this connection's own. A frame altered, replayed,
   reordered, or copied from another connection or direction fails its check, and the
   connection is closed before anything in it is used.

Frames are authenticated, not encrypted: someone who can read the network between hosts sees
label names and values (never the secret), and can change nothing. Loopback traffic is local;
across hosts, keep the cluster on a private network or a tunnel. Chosen over TLS because it
needs no certificates to make and rotate, and costs one HMAC per frame (docs/architecture.md
has the measurement).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import struct

from cluster.common import wire

HANDSHAKE_TIMEOUT = 5.0  # seconds a new connection has to authenticate
_NONCE = 16
_TAG = 32
_SEQ = struct.Struct("!Q")


class ChannelError(ConnectionError):
    """The peer failed the handshake or sent a frame that does not authenticate."""


class Channel:
    """One authenticated connection: `send` a body, `receive` the next one."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        key: bytes,
        sending: bytes,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._key = key
        self._sending = sending
        self._receiving = b"s" if sending == b"c" else b"c"
        self._sent = 0
        self._received = 0

    def send(self, body: bytes) -> None:
        self._sent += 1
        tag = _tag(self._key, self._sending, self._sent, body)
        self.writer.write(wire.FRAME_HEADER.pack(len(body) + _TAG) + tag + body)

    async def receive(self, limit: int = wire.MAX_FRAME) -> bytes:
        framed = await wire.read_frame(self.reader, limit + _TAG)
        tag, body = framed[:_TAG], framed[_TAG:]
        self._received += 1
        if not hmac.compare_digest(tag, _tag(self._key, self._receiving, self._received, body)):
            raise ChannelError("a frame failed authentication; closing the connection")
        return body


async def serve_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes
) -> Channel:
    """The server's side; raises ChannelError (or a timeout) for a peer without the secret."""
    server_nonce = secrets.token_bytes(_NONCE)
    writer.write(wire.frame(server_nonce))
    async with asyncio.timeout(HANDSHAKE_TIMEOUT):
        hello = await wire.read_frame(reader, limit=_NONCE + _TAG)  # before anything big
    client_nonce, proof = hello[:_NONCE], hello[_NONCE:]
    if len(client_nonce) != _NONCE or not hmac.compare_digest(
        proof, _mac(secret, b"hello", server_nonce, client_nonce)
    ):
        raise ChannelError("the peer does not know the secret")
    writer.write(wire.frame(_mac(secret, b"welcome", client_nonce, server_nonce)))
    return Channel(reader, writer, _mac(secret, b"key", server_nonce, client_nonce), b"s")


async def open_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes
) -> Channel:
    """The client's side; raises ChannelError if the server does not prove the secret."""
    async with asyncio.timeout(HANDSHAKE_TIMEOUT):
        server_nonce = await wire.read_frame(reader, limit=_NONCE)
        client_nonce = secrets.token_bytes(_NONCE)
        writer.write(wire.frame(client_nonce + _mac(secret, b"hello", server_nonce, client_nonce)))
        welcome = await wire.read_frame(reader, limit=_TAG)
    if not hmac.compare_digest(welcome, _mac(secret, b"welcome", client_nonce, server_nonce)):
        raise ChannelError("the server did not prove the secret")
    return Channel(reader, writer, _mac(secret, b"key", server_nonce, client_nonce), b"c")


def _mac(secret: bytes, *parts: bytes) -> bytes:
    return hmac.new(secret, b"|".join(parts), hashlib.sha256).digest()


def _tag(key: bytes, direction: bytes, seq: int, body: bytes) -> bytes:
    mac = hmac.new(key, direction + _SEQ.pack(seq), hashlib.sha256)
    mac.update(body)
    return mac.digest()
