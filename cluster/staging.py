"""Staging a batch's counter increments: new values, checked against the limits across the whole
batch before anything is committed. Pure Python; the actor (cluster/store.py) uses it."""

from __future__ import annotations

from collections import Counter

MAX_VALUE = 2**63 - 1

Pair = tuple[list[str], int]  # labels, increment
Values = dict[str, int]  # each touched label's value right after the request
Refusal = tuple[str, str]  # ("limit" | "key_reused" | "late", detail): nothing was applied


class Stage:
    """A batch's changes before they are committed; checks limits across the whole batch."""

    def __init__(self, counts: dict[str, int], max_counters: int) -> None:
        self._counts = counts
        self._max = max_counters
        self._new = 0
        self.changes: dict[str, int] = {}

    def add(self, adds: dict[str, int]) -> Values | Refusal:
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
            return (
                "limit",
                f"the cluster holds {len(counts) + self._new} counters and this request "
                f"would add {new} more; the limit is {self._max}",
            )
        if values and max(values.values()) > MAX_VALUE:
            label = next(label for label, value in values.items() if value > MAX_VALUE)
            return ("limit", f"counter {label!r} would exceed {MAX_VALUE}")
        self._new += new
        changes.update(values)
        return values


def totals(pairs: list[Pair]) -> Counter[str]:
    """Label -> total increment of one request. A label listed twice is incremented twice, as
    in the original counter."""
    # Counter(list) counts in C; a Python loop per label is what this avoids.
    by_increment: dict[int, list[str]] = {}
    for labels, increment in pairs:
        by_increment.setdefault(increment, []).extend(labels)
    sums: Counter[str] = Counter()
    for increment, labels in by_increment.items():
        counted = Counter(labels)
        if increment != 1:
            for label in counted:
                counted[label] *= increment
        sums.update(counted)  # a plain dict update while `sums` is empty
    return sums
