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


class HostLog:
    def __init__(self, max_rows: int = 100_000) -> None:
        self._max_rows = max_rows
        self._rows: deque[Row] = deque()
        self._held: set[tuple[str, float]] = set()  # (host, timestamp) of every row
        self._newest: dict[str, Row] = {}  # each host's newest row (the live feed's)

    def add(self, host: str, cpu: float, memory: float, disk: float, ts: float) -> None:
        if (host, ts) in self._held:
            return
        if len(self._rows) >= self._max_rows:
            oldest = self._rows.popleft()
            self._held.discard((oldest[0], oldest[4]))
            if self._newest.get(oldest[0]) is oldest:  # rare: every later row was older
                del self._newest[oldest[0]]
                held = [r for r in self._rows if r[0] == oldest[0]]
                if held:
                    self._newest[oldest[0]] = max(held, key=lambda r: r[4])
        row = (host, cpu, memory, disk, ts)
        self._rows.append(row)
        self._held.add((host, ts))
        if host not in self._newest or ts > self._newest[host][4]:
            self._newest[host] = row

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` newest rows by timestamp, newest first (hosts may report out of order)."""
        return _shaped(heapq.nlargest(limit, self._rows, key=lambda row: row[4]))

    def newest(self) -> list[dict[str, Any]]:
        """Each host's newest row, newest first."""
        return _shaped(sorted(self._newest.values(), key=lambda row: row[4], reverse=True))

    def stats(self) -> dict[str, Any]:
        """What the log holds against its bound (for /health)."""
        return {"rows": len(self._rows), "max_rows": self._max_rows}

    def state(self) -> list[Row]:
        return list(self._rows)

    def load(self, rows: list[Row]) -> None:
        self._rows.clear()
        self._held.clear()
        self._newest.clear()
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
