"""Staging a batch's counter increments: new values, checked against the limits across the whole
batch before anything is committed. Pure Python; the actor uses it."""

from __future__ import annotations

from cluster.common.wire import MAX_VALUE, Applied, Outcome, Refused


class Stage:
    """A batch's changes before they are committed; checks limits across the whole batch."""

    def __init__(self, counts: dict[str, int], max_counters: int) -> None:
        self._counts = counts
        self._max = max_counters
        self._new = 0
        self.changes: dict[str, int] = {}

    def add(self, adds: dict[str, int]) -> Outcome:
        """Add `adds` (label -> increment) entirely, or refuse and change nothing."""
        changes, counts = self.changes, self._counts
        values = {}
        new = 0
        for label, n in adds.items():  # one pass: this is the actor's hot loop
            value = changes.get(label)
            if value is None:
                value = counts.get(label)
                if value is None:
                    new += 1
                    value = 0
            values[label] = value + n
        if len(counts) + self._new + new > self._max:
            return Refused(
                "limit",
                f"the cluster holds {len(counts) + self._new} counters and this request "
                f"would add {new} more; the limit is {self._max}",
            )
        if values and max(values.values()) > MAX_VALUE:
            label = next(label for label, value in values.items() if value > MAX_VALUE)
            return Refused("limit", f"counter {label!r} would exceed {MAX_VALUE}")
        self._new += new
        changes.update(values)
        return Applied(values)
