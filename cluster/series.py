"""The metric-sample buffer: per series, recent raw samples and rollups per minute, hour and day.

Pure Python, no Ray, no clock of its own (callers pass `now`), so it is tested directly.

- Raw samples: per series, kept sorted by timestamp, at most `raw_count` of them and none older
  than `raw_seconds` before the newest `now` seen.
- Rollups: per resolution, buckets aligned to the Unix epoch in UTC (a day starts at 00:00 UTC),
  each holding count, sum, min and max, so an average and more come from them. A sample lands in
  the bucket of its own timestamp, however late or out of order it arrives, as long as that
  bucket is within the resolution's retention; otherwise that resolution skips it.
- Limits: `max_series` distinct names; past it a new name is refused with LimitReached and
  nothing changes.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from cluster.errors import InvalidInput, LimitReached, NotFound

RESOLUTIONS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(slots=True)
class Rollup:
    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    @property
    def avg(self) -> float:
        return self.total / self.count


@dataclass(frozen=True)
class Retention:
    """How long each resolution keeps data, in seconds (None: forever)."""

    raw_seconds: float = 3600.0
    raw_count: int = 10_000
    minute: float | None = 7 * 86400.0
    hour: float | None = 90 * 86400.0
    day: float | None = None

    def of(self, resolution: str) -> float | None:
        return getattr(self, resolution)


@dataclass
class Series:
    raw: list[tuple[float, float]] = field(default_factory=list)
    rollups: dict[str, dict[int, Rollup]] = field(
        default_factory=lambda: {r: {} for r in RESOLUTIONS}
    )


class SeriesBuffer:
    def __init__(self, retention: Retention | None = None, max_series: int = 10_000) -> None:
        self._retention = retention or Retention()
        self._max_series = max_series
        self._series: dict[str, Series] = {}
        self._now = -math.inf  # the newest `now` seen: retention is measured from it

    def add(self, name: str, timestamp: float, value: float, now: float) -> None:
        """Record one sample. `now` is the server's time, for retention."""
        if not math.isfinite(value) or not math.isfinite(timestamp):
            raise InvalidInput(f"sample {name!r}: timestamp and value must be finite numbers")
        series = self._series.get(name)
        if series is None:
            if len(self._series) >= self._max_series:
                raise LimitReached(
                    f"the buffer holds {len(self._series)} series, the limit; "
                    f"{name!r} would be a new one"
                )
            series = self._series[name] = Series()
        self._now = max(self._now, now)
        retention = self._retention
        if timestamp >= self._now - retention.raw_seconds:
            bisect.insort(series.raw, (timestamp, value))
            if len(series.raw) > retention.raw_count:
                del series.raw[: len(series.raw) - retention.raw_count]
        for resolution, width in RESOLUTIONS.items():
            keep = retention.of(resolution)
            bucket = int(timestamp // width) * width
            if keep is None or bucket + width > self._now - keep:
                series.rollups[resolution].setdefault(bucket, Rollup()).add(value)

    def prune(self, now: float) -> None:
        """Forget raw samples and buckets past their retention (call it now and then)."""
        self._now = max(self._now, now)
        retention = self._retention
        for series in self._series.values():
            cut = bisect.bisect_left(series.raw, (self._now - retention.raw_seconds, -math.inf))
            del series.raw[:cut]
            for resolution, width in RESOLUTIONS.items():
                keep = retention.of(resolution)
                if keep is None:
                    continue
                buckets = series.rollups[resolution]
                for bucket in [b for b in buckets if b + width <= self._now - keep]:
                    del buckets[bucket]

    def names(self) -> list[str]:
        return sorted(self._series)

    def raw(self, name: str) -> list[tuple[float, float]]:
        return list(self._get(name).raw)

    def query(
        self, name: str, resolution: str, start: float, end: float
    ) -> list[tuple[int, Rollup]]:
        """The buckets of `resolution` that start within [start, end], newest first."""
        if resolution not in RESOLUTIONS:
            raise InvalidInput(f"granularity {resolution!r} is not one of {', '.join(RESOLUTIONS)}")
        if start > end:
            raise InvalidInput("the start is after the end")
        buckets = self._get(name).rollups[resolution]
        found = [(b, r) for b, r in buckets.items() if start <= b <= end]
        return sorted(found, key=lambda pair: pair[0], reverse=True)

    def _get(self, name: str) -> Series:
        series = self._series.get(name)
        if series is None:
            raise NotFound(f"no metric named {name!r}")
        return series
