"""Host metrics (the original metricSys): the latest CPU, memory and disk usage rows per host.

Pure Python. Bounded: the newest `max_rows` rows are kept, older ones are forgotten.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from cluster.timeutil import rfc3339

Row = tuple[str, float, float, float, float]  # id, cpu, memory, disk (percent), timestamp


class HostLog:
    def __init__(self, max_rows: int = 100_000) -> None:
        self._rows: deque[Row] = deque(maxlen=max_rows)

    def add(self, host: str, cpu: float, memory: float, disk: float, ts: float) -> None:
        self._rows.append((host, cpu, memory, disk, ts))

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` newest rows by timestamp, newest first (hosts may report out of order)."""
        rows = heapq.nlargest(limit, self._rows, key=lambda row: row[4])
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

    def state(self) -> list[Row]:
        return list(self._rows)

    def load(self, rows: list[Row]) -> None:
        self._rows.clear()
        self._rows.extend(tuple(row) for row in rows)  # type: ignore[misc]
