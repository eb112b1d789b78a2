"""Host metrics (the original metricSys): the latest CPU, memory and disk usage rows per host.

Pure Python. Bounded: the newest `max_rows` rows are kept, older ones are forgotten. A host
reports one row per timestamp (the original's primary key was id and timestamp): a row sent
again, e.g. by an agent retrying after a timeout, is kept once.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from cluster.common.timeutil import rfc3339

Row = tuple[str, float, float, float, float]  # id, cpu, memory, disk (percent), timestamp


class _Host:
    """One host's rows by timestamp, newest on top: a max-heap whose entries of forgotten rows
    go when they reach the top, or all at once when they outnumber the held ones, so finding
    the newest never scans the log (an add stays O(log n) whatever order rows come in)."""

    __slots__ = ("heap", "held")

    def __init__(self) -> None:
        self.heap: list[tuple[float, Row]] = []  # (-timestamp, row)
        self.held = 0


class HostLog:
    def __init__(self, max_rows: int = 100_000) -> None:
        self._max_rows = max_rows
        self._rows: deque[Row] = deque()
        self._held: dict[tuple[str, float], Row] = {}  # (host, timestamp): the row held
        self._hosts: dict[str, _Host] = {}

    def add(self, host: str, cpu: float, memory: float, disk: float, ts: float) -> None:
        if (host, ts) in self._held:
            return
        if len(self._rows) >= self._max_rows:
            oldest = self._rows.popleft()
            del self._held[(oldest[0], oldest[4])]
            gone = self._hosts[oldest[0]]
            gone.held -= 1
            if not gone.held:
                del self._hosts[oldest[0]]
        row = (host, cpu, memory, disk, ts)
        self._rows.append(row)
        self._held[(host, ts)] = row
        one = self._hosts.setdefault(host, _Host())
        one.held += 1
        heapq.heappush(one.heap, (-ts, row))
        if len(one.heap) > 2 * one.held + 16:
            one.heap = [entry for entry in one.heap if self._is_held(entry[1])]
            heapq.heapify(one.heap)

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` newest rows by timestamp, newest first (hosts may report out of order)."""
        return _shaped(heapq.nlargest(limit, self._rows, key=lambda row: row[4]))

    def newest(self, limit: int) -> list[dict[str, Any]]:
        """The newest row of each of the `limit` hosts that reported last, newest first."""
        tops = [self._top(one) for one in self._hosts.values()]
        return _shaped(heapq.nlargest(limit, tops, key=lambda row: row[4]))

    def _top(self, one: _Host) -> Row:
        while not self._is_held(one.heap[0][1]):
            heapq.heappop(one.heap)
        return one.heap[0][1]

    def _is_held(self, row: Row) -> bool:
        return self._held.get((row[0], row[4])) is row

    def stats(self) -> dict[str, Any]:
        """What the log holds against its bound (for /health)."""
        return {"rows": len(self._rows), "max_rows": self._max_rows}

    def state(self) -> list[Row]:
        return list(self._rows)

    def load(self, rows: list[Row]) -> None:
        self._rows.clear()
        self._held.clear()
        self._hosts.clear()
        for row in rows:
            self.add(*row)


def _shaped(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows as metricSys answered them."""
    return [
        {
            "id": host,
            "cpu_usage": cpu,
            "memory_usage": memory,
            "disk_usage": disk,
            "timestamp": rfc3339(ts),
        }
        for host, cpu, memory, disk, ts in rows
    ]
