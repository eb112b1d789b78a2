"""A node's live feeds, fanned out to its sockets: each feed reads the actor once a tick,
whatever the number of clients, encodes its frame once, and offers it to every member of its
topic. A feed runs only while its topic has members. Each client is a bounded queue of frames:
one that falls `client_queue` frames behind is marked too slow, and its socket route closes it
(phoenix.js reconnects), so no client grows the node's memory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from api.live.phoenix import COUNTERS, LOBBY, broadcast
from cluster.common import wire
from cluster.common.config import LiveSettings
from cluster.common.errors import ClusterError

log = logging.getLogger(__name__)

Read = Callable[[wire.Read], Awaitable[Any]]


class Client:
    """One socket's frames waiting to be sent."""

    def __init__(self, capacity: int) -> None:
        self.frames: asyncio.Queue[str] = asyncio.Queue(capacity)
        self.too_slow = asyncio.Event()

    def offer(self, frame: str) -> None:
        try:
            self.frames.put_nowait(frame)
        except asyncio.QueueFull:
            self.too_slow.set()


class Hub:
    def __init__(self, read: Read, settings: LiveSettings) -> None:
        self._read = read
        self._settings = settings
        self._clients: set[Client] = set()
        self._members: dict[str, set[Client]] = {}
        self._feeds: dict[str, asyncio.Task[None]] = {}

    def connect(self) -> Client | None:
        """A new client, or None when the node holds `max_clients` already."""
        if len(self._clients) >= self._settings.max_clients:
            return None
        client = Client(self._settings.client_queue)
        self._clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self._clients.discard(client)
        for topic in [t for t, members in self._members.items() if client in members]:
            self.leave(client, topic)

    def join(self, client: Client, topic: str) -> None:
        self._members.setdefault(topic, set()).add(client)
        if topic not in self._feeds:
            self._feeds[topic] = asyncio.get_running_loop().create_task(self._feed(topic))

    def leave(self, client: Client, topic: str) -> None:
        members = self._members.get(topic, set())
        members.discard(client)
        if not members:
            self._members.pop(topic, None)
            feed = self._feeds.pop(topic, None)
            if feed is not None:
                feed.cancel()

    def stats(self) -> dict[str, Any]:
        """For /health: sockets held and members of each topic."""
        return {
            "clients": len(self._clients),
            "max_clients": self._settings.max_clients,
            "topics": {topic: len(members) for topic, members in self._members.items()},
        }

    async def close(self) -> None:
        feeds = list(self._feeds.values())
        self._feeds.clear()
        for feed in feeds:
            feed.cancel()
        await asyncio.gather(*feeds, return_exceptions=True)

    async def _feed(self, topic: str) -> None:
        settings = self._settings
        if topic == LOBBY:
            tick, interval = self._hosts, settings.interval
        else:
            tick, interval = (
                _Changes(self._read, settings.max_changes).tick,
                settings.counters_interval,
            )
        while True:
            try:
                frame = await tick()
            except ClusterError as exc:  # the actor restarting: the next tick tries again
                log.warning("live feed %s: no read this tick: %s", topic, exc)
            else:
                for client in list(self._members.get(topic, ()) if frame else ()):
                    client.offer(frame)
            await asyncio.sleep(interval)

    async def _hosts(self) -> str:
        rows = await self._read(wire.NewestHosts())
        return broadcast(LOBBY, "metrics_data", {"metrics": rows})


class _Changes:
    """The counters feed's place in the actor's changes: each tick, what changed since the
    last (`counters_changed` `{"counters": {label: value or null if deleted}}`), nothing when
    nothing did, and `counters_reset` when the changes since are not all known (the actor
    restarted, or too many changed): clients read every counter again (GET /metrics)."""

    def __init__(self, read: Read, limit: int) -> None:
        self._read = read
        self._limit = limit
        self._epoch = ""
        self._seq = 0

    async def tick(self) -> str | None:
        first = not self._epoch
        query = wire.CounterChanges(self._epoch, self._seq, self._limit)
        self._epoch, self._seq, changed = await self._read(query)
        if changed is None:  # the first read only learns where the changes are
            return None if first else broadcast(COUNTERS, "counters_reset", {})
        return broadcast(COUNTERS, "counters_changed", {"counters": changed}) if changed else None
