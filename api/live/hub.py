"""A node's live feeds, fanned out to its sockets: each feed reads the actor once a tick,
whatever the number of clients, encodes its frame once, and offers it to every member of its
topic. A feed runs only while its topic has members. Each client is a bounded queue of frames:
one that falls `client_queue` frames behind is marked too slow, and its socket route closes it
(phoenix.js reconnects), so no client grows the node's memory."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from api.live.phoenix import COUNTERS, LOBBY, SERIES, broadcast
from cluster.common import wire
from cluster.common.config import LiveSettings
from cluster.common.errors import ClusterError
from cluster.common.timeutil import rfc3339

log = logging.getLogger(__name__)

Read = Callable[[wire.Read], Awaitable[Any]]


class Client:
    """One socket's frames waiting to be sent."""

    def __init__(self, capacity: int, address: str) -> None:
        self.address = address
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
        self._per_address: collections.Counter[str] = collections.Counter()
        self._members: dict[str, set[Client]] = {}
        self._feeds: dict[str, asyncio.Task[None]] = {}

    def connect(self, address: str) -> Client | str:
        """A new client from `address`, or why not: the node holds `max_clients` sockets
        already, or that address holds `max_clients_per_address` (one client cannot take
        every slot)."""
        if len(self._clients) >= self._settings.max_clients:
            return "this node holds its most live sockets; try another node"
        if self._per_address[address] >= self._settings.max_clients_per_address:
            return "this address holds its most live sockets on this node"
        client = Client(self._settings.client_queue, address)
        self._clients.add(client)
        self._per_address[address] += 1
        return client

    def disconnect(self, client: Client) -> None:
        """The client's slot and topics freed, and its waiting frames dropped."""
        if client in self._clients:
            self._clients.discard(client)
            self._per_address[client.address] -= 1
            if not self._per_address[client.address]:
                del self._per_address[client.address]
        while not client.frames.empty():
            client.frames.get_nowait()
        for topic in [t for t, members in self._members.items() if client in members]:
            self.leave(client, topic)

    def join(self, client: Client, topic: str) -> None:
        self._members.setdefault(topic, set()).add(client)
        feed = _feed_of(topic)
        if feed not in self._feeds:
            self._feeds[feed] = asyncio.get_running_loop().create_task(self._run(feed))

    def leave(self, client: Client, topic: str) -> None:
        members = self._members.get(topic, set())
        members.discard(client)
        if members:
            return
        self._members.pop(topic, None)
        feed = _feed_of(topic)
        if not any(_feed_of(other) == feed for other in self._members):
            running = self._feeds.pop(feed, None)
            if running is not None:
                running.cancel()

    def stats(self) -> dict[str, Any]:
        """For /health: sockets held and members of each topic."""
        return {
            "clients": len(self._clients),
            "max_clients": self._settings.max_clients,
            "addresses": len(self._per_address),
            "topics": {topic: len(members) for topic, members in self._members.items()},
        }

    async def close(self) -> None:
        feeds = list(self._feeds.values())
        self._feeds.clear()
        for feed in feeds:
            feed.cancel()
        await asyncio.gather(*feeds, return_exceptions=True)

    async def _run(self, feed: str) -> None:
        settings, read = self._settings, self._read
        tick: Callable[[], Awaitable[list[tuple[str, str]]]]
        if feed == "hosts":
            tick, interval = _Hosts(read, settings.max_hosts).tick, settings.interval
        elif feed == "counters":
            tick, interval = _Counters(read, settings.max_changes).tick, settings.counters_interval
        else:
            samples = _Samples(read, settings.max_changes, self._series_names)
            tick, interval = samples.tick, settings.counters_interval
        while True:
            try:
                pushes = await tick()
            except ClusterError as exc:  # the actor restarting: the next tick tries again
                log.warning("live feed %s: no read this tick: %s", feed, exc)
            except Exception:  # a feed outlives anything: its members would starve silently
                log.exception("live feed %s: this tick failed", feed)
            else:
                for topic, frame in pushes:
                    for client in list(self._members.get(topic, ())):
                        client.offer(frame)
            await asyncio.sleep(interval)

    def _series_names(self) -> list[str]:
        return [topic[len(SERIES) :] for topic in self._members if topic.startswith(SERIES)]


def _feed_of(topic: str) -> str:
    """The feed that pushes to `topic` (the route lets only these topics be joined)."""
    if topic == LOBBY:
        return "hosts"
    return "counters" if topic == COUNTERS else "samples"


Pushes = list[tuple[str, str]]  # (topic, frame)


class _Hosts:
    """`metrics_data` `{"metrics": [each host's newest row]}`, every tick."""

    def __init__(self, read: Read, limit: int) -> None:
        self._read = read
        self._limit = limit

    async def tick(self) -> Pushes:
        rows = await self._read(wire.NewestHosts(self._limit))
        return [(LOBBY, broadcast(LOBBY, "metrics_data", {"metrics": rows}))]


class _Cursor:
    """A feed's place in one of the actor's change feeds (cluster/actor/changes.py): its first
    read only learns the place; a later read answered None (the actor restarted, or too much
    changed) means the clients must read everything again."""

    def __init__(self, read: Read) -> None:
        self._read = read
        self.epoch = ""
        self.seq = 0

    async def since(self, query: Callable[[str, int], wire.Read]) -> tuple[bool, Any]:
        """Whether this was the first read, and what changed since the last (None: unknown)."""
        first = not self.epoch
        self.epoch, self.seq, changed = await self._read(query(self.epoch, self.seq))
        return first, changed


class _Counters:
    """`counters_changed` `{"counters": {label: value, or null when deleted}}` with what
    changed since the last tick (nothing when nothing did), or `counters_reset`."""

    def __init__(self, read: Read, limit: int) -> None:
        self._cursor = _Cursor(read)
        self._limit = limit

    async def tick(self) -> Pushes:
        def query(epoch: str, seq: int) -> wire.Read:
            return wire.CounterChanges(epoch, seq, self._limit)

        first, changed = await self._cursor.since(query)
        if changed is None:
            return [] if first else [(COUNTERS, broadcast(COUNTERS, "counters_reset", {}))]
        frame = broadcast(COUNTERS, "counters_changed", {"counters": changed})
        return [(COUNTERS, frame)] if changed else []


class _Samples:
    """On `series:<name>`: `samples` `{"samples": [{"labels", "timestamp", "value"}]}` with
    the samples of that name added since the last tick, or `samples_reset`."""

    def __init__(self, read: Read, limit: int, names: Callable[[], list[str]]) -> None:
        self._cursor = _Cursor(read)
        self._limit = limit
        self._names = names

    async def tick(self) -> Pushes:
        names = self._names()

        def query(epoch: str, seq: int) -> wire.Read:
            return wire.SamplesAdded(epoch, seq, self._limit, names)

        first, added = await self._cursor.since(query)
        if added is None:
            reset = [(SERIES + n, broadcast(SERIES + n, "samples_reset", {})) for n in names]
            return [] if first else reset
        by_name: dict[str, list[dict[str, Any]]] = {}
        for sample in added:
            shown = {"labels": dict(sample.labels), "timestamp": rfc3339(sample.ts)}
            by_name.setdefault(sample.name, []).append({**shown, "value": sample.value})
        return [
            (SERIES + name, broadcast(SERIES + name, "samples", {"samples": samples}))
            for name, samples in by_name.items()
        ]
