"""Which counters changed, for the nodes' live feeds (api/live/hub.py): each commit that
changes counters (or a delete) notes its labels under the next sequence number; a node asks
for what changed since the number it last saw and pushes that to its sockets, so one read a
tick serves every client of the node.

Bounded: the notes of at most `max_labels` labels are kept, the oldest going first. A node
whose number is older than what is kept, or from before the actor's restart (another `epoch`),
is told to start over (`since` gives None) rather than given a partial answer."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable


class ChangeFeed:
    def __init__(self, max_labels: int = 100_000) -> None:
        self.epoch = uuid.uuid4().hex  # a restart begins another numbering
        self.seq = 0
        self._max_labels = max_labels
        self._notes: deque[tuple[int, list[str]]] = deque()
        self._held = 0
        self._oldest = 0  # notes after this number are all kept

    def note(self, labels: Iterable[str]) -> None:
        changed = list(labels)
        if not changed:
            return
        self.seq += 1
        self._notes.append((self.seq, changed))
        self._held += len(changed)
        while self._held > self._max_labels and self._notes:
            seq, gone = self._notes.popleft()
            self._held -= len(gone)
            self._oldest = seq

    def since(self, epoch: str, seq: int) -> set[str] | None:
        """The labels noted after `seq` of `epoch`; None when they are not all kept."""
        if epoch != self.epoch or seq < self._oldest or seq > self.seq:
            return None
        changed: set[str] = set()
        for noted, labels in reversed(self._notes):
            if noted <= seq:
                break
            changed.update(labels)
        return changed
