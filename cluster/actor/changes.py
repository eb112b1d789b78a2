"""What changed, for the nodes' live feeds (api/live/hub.py): each commit notes what it changed
(the counters' labels; the samples it added) under the next sequence number; a node asks for
what changed since the number it last saw and pushes that to its sockets, so one read a tick
serves every client of the node.

Bounded: the notes of at most `max_items` items are kept, the oldest going first. A node whose
number is older than what is kept, or from before the actor's restart (another `epoch`), is
told to start over (`since` gives None) rather than given a partial answer."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ChangeFeed(Generic[T]):
    def __init__(self, max_items: int = 100_000) -> None:
        self.epoch = uuid.uuid4().hex  # a restart begins another numbering
        self.seq = 0
        self._max_items = max_items
        self._notes: deque[tuple[int, list[T]]] = deque()
        self._held = 0
        self._oldest = 0  # notes after this number are all kept

    def note(self, items: Iterable[T]) -> None:
        changed = list(items)
        if not changed:
            return
        self.seq += 1
        self._notes.append((self.seq, changed))
        self._held += len(changed)
        while self._held > self._max_items and self._notes:
            seq, gone = self._notes.popleft()
            self._held -= len(gone)
            self._oldest = seq

    def since(self, epoch: str, seq: int) -> list[T] | None:
        """The items noted after `seq` of `epoch`, oldest first; None when they are not all
        kept."""
        if epoch != self.epoch or seq < self._oldest or seq > self.seq:
            return None
        after: list[list[T]] = []
        for noted, items in reversed(self._notes):
            if noted <= seq:
                break
            after.append(items)
        return [item for items in reversed(after) for item in items]

    def answer(
        self, epoch: str, seq: int, limit: int, pick: Callable[[list[T]], Collection[Any]]
    ) -> tuple[str, int, Collection[Any] | None]:
        """A read's answer (wire.ChangesSince): this feed's epoch and number, and `pick` of the
        items since `seq`, or None to start over (not all kept, or more than `limit`)."""
        items = self.since(epoch, seq)
        found = None if items is None else pick(items)
        return self.epoch, self.seq, found if found is not None and len(found) <= limit else None
