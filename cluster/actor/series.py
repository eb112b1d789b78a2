"""The metric-sample buffer: per series, recent raw samples and rollups per minute, hour and day.

A series is a name and its labels (none for the original API's samples), held under its
`series_key` (cluster/common/wire.py): the name alone when it has no labels. The original
API's reads go by name: `names()` lists each once, and `query(name)` merges the buckets of all
its series (counts and sums add, extremes stay extremes), so labels change nothing for them.

Pure Python, no Ray, no clock of its own, so it is tested directly.

- Retention is measured per series from its newest sample, not from the server's clock, so a
  series posted with historical timestamps (the original metrics-server's simulator posts dates
  in 2023-2024) keeps its recent history at every resolution. Callers refuse timestamps far in
  the future, which would otherwise push a series' history out at once.
- Raw samples: kept as two columns, times in whole milliseconds (truncated, as Prometheus
  keeps them) and values, sorted by time; one a millisecond, the last posted (a second one in
  the same millisecond replaces the first); at most `raw_count`, none older than `raw_seconds`
  before the series' newest sample. Columns of int64 and float64 (16 bytes a sample, where a
  list of pairs took ~110), which a query slices without a conversion a point.
- Rollups: buckets aligned to the Unix epoch in UTC (a day starts at 00:00 UTC), each holding
  count, sum, min and max, so an average and more come from them. A sample lands in the bucket
  of its own timestamp however late or out of order it arrives, as long as that bucket is within
  the resolution's retention; otherwise that resolution skips it.
- Limits: `max_series` distinct series; `refuse()` says beforehand whether new ones fit. A
  series that took no sample for `idle_seconds` (by the server's clock: when its samples
  arrived, not their timestamps, which may be historical) is deleted wholly by `prune(now)` or
  `expire(now)`, freeing its room. Arrival is noted without a clock: `add()` marks the series,
  and the next pass stamps every marked series with its `now`, so a series is idle from at
  most one pass after its last sample.
- Buckets: at most `max_buckets` per series and resolution, whatever the retention (0, for
  ever, would keep a bucket for every day since 1970). Past it the oldest go, and a sample
  older than every bucket kept skips that resolution. `add()` lets a series pass the bound by
  an eighth before trimming it (a trim sorts the buckets); `prune()` trims to it exactly.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cluster.actor import statefile
from cluster.common.errors import InvalidInput, NotFound
from cluster.common.wire import RESOLUTIONS, Labels, series_key


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


@dataclass(frozen=True)
class Retention:
    """How long each resolution keeps data, in seconds (None: forever)."""

    raw_seconds: float = 7 * 86400.0
    raw_count: int = 3600
    minute: float | None = 7 * 86400.0
    hour: float | None = 90 * 86400.0
    day: float | None = None

    def of(self, resolution: str) -> float | None:
        return getattr(self, resolution)


@dataclass
class Series:
    name: str
    labels: Labels = ()
    newest: float = -math.inf
    times: array = field(default_factory=lambda: array("q"))  # raw samples' ms, increasing
    values: array = field(default_factory=lambda: array("d"))
    rollups: dict[str, dict[int, Rollup]] = field(
        default_factory=lambda: {r: {} for r in RESOLUTIONS}
    )
    # When a pass last found a new sample (server time); None: one came since the last pass.
    seen_at: float | None = None
    # Per resolution, the oldest bucket left by a trim: older samples skip that resolution.
    floors: dict[str, int] = field(default_factory=dict)
    # The labels with __name__, sorted, as a query reads them: built once, not per query.
    named: tuple[tuple[str, str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.named = tuple(sorted((("__name__", self.name), *self.labels)))


class SeriesBuffer:
    def __init__(
        self,
        retention: Retention | None = None,
        max_series: int = 1000,
        idle_seconds: float | None = None,
        max_buckets: int = 20_000,
    ) -> None:
        self._retention = retention or Retention()
        self._max_series = max_series
        self._idle = idle_seconds
        self._max_buckets = max_buckets
        self._slack = max(16, max_buckets // 8)
        self._series: dict[str, Series] = {}
        # name -> its series by key: a query naming a metric looks at its series, not all
        self._by_name: dict[str, dict[str, Series]] = {}

    def unknown(self, keys: set[str]) -> set[str]:
        """Those of these series keys that are not series yet."""
        return keys - self._series.keys()

    def refuse(self, new: int) -> str | None:
        """Why `new` more series cannot be added, or None."""
        if new and len(self._series) + new > self._max_series:
            return (
                f"the buffer holds {len(self._series)} series and this request would add {new} "
                f"more; the limit is {self._max_series}"
            )
        return None

    def add(self, name: str, timestamp: float, value: float, labels: Labels = ()) -> None:
        """Record one sample (the caller checked `refuse` and that both numbers are finite)."""
        key = series_key(name, labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = Series(name, labels)
            self._by_name.setdefault(name, {})[key] = series
        series.newest = max(series.newest, timestamp)
        series.seen_at = None
        retention = self._retention
        if timestamp >= series.newest - retention.raw_seconds:
            times, t = series.times, to_ms(timestamp)
            at = bisect.bisect_right(times, t)
            if at and times[at - 1] == t:
                series.values[at - 1] = value
            else:
                times.insert(at, t)
                series.values.insert(at, value)
                if len(times) > retention.raw_count:
                    del times[: len(times) - retention.raw_count]
                    del series.values[: len(series.values) - retention.raw_count]
        for resolution, width in RESOLUTIONS.items():
            keep = retention.of(resolution)
            bucket = int(timestamp // width) * width
            if keep is not None and bucket + width <= series.newest - keep:
                continue
            buckets = series.rollups[resolution]
            rollup = buckets.get(bucket)
            if rollup is None:
                if bucket < series.floors.get(resolution, bucket):
                    continue  # older than every bucket the bound left
                rollup = buckets[bucket] = Rollup()
                if len(buckets) > self._max_buckets + self._slack:
                    self._trim(series, resolution)
            rollup.add(value)

    def _trim(self, series: Series, resolution: str) -> None:
        """Keep the newest `max_buckets` buckets of `resolution`."""
        buckets = series.rollups[resolution]
        if len(buckets) <= self._max_buckets:
            return
        order = sorted(buckets)
        for bucket in order[: len(order) - self._max_buckets]:
            del buckets[bucket]
        series.floors[resolution] = order[len(order) - self._max_buckets]

    def prune(self, now: float | None = None) -> None:
        """Forget raw samples and buckets past their retention or bound and, given `now`, the
        series idle for `idle_seconds` (call it now and then, between batches)."""
        if now is not None:
            self.expire(now)
        retention = self._retention
        for series in self._series.values():
            cut = bisect.bisect_left(series.times, to_ms(series.newest - retention.raw_seconds))
            del series.times[:cut]
            del series.values[:cut]
            for resolution, width in RESOLUTIONS.items():
                keep = retention.of(resolution)
                if keep is None:
                    continue
                buckets = series.rollups[resolution]
                for bucket in [b for b in buckets if b + width <= series.newest - keep]:
                    del buckets[bucket]
            for resolution in RESOLUTIONS:
                self._trim(series, resolution)

    def expire(self, now: float, keep: set[str] | frozenset[str] = frozenset()) -> int:
        """Stamp the series that took samples since the last pass with `now`, and delete those
        idle for `idle_seconds` but the ones in `keep` (keys of a batch's requests already
        accepted, whose samples are not applied yet); how many went."""
        idle = []
        for key, series in self._series.items():
            if series.seen_at is None:
                series.seen_at = now
            elif self._idle and series.seen_at <= now - self._idle and key not in keep:
                idle.append(key)
        self._forget(idle)
        return len(idle)

    def _forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            series = self._series.pop(key)
            named = self._by_name[series.name]
            del named[key]
            if not named:
                del self._by_name[series.name]

    def stats(self) -> dict[str, Any]:
        """What the buffer holds against its bounds (for /health)."""
        buckets = dict.fromkeys(RESOLUTIONS, 0)
        raw = 0
        for series in self._series.values():
            raw += len(series.times)
            for resolution, held in series.rollups.items():
                buckets[resolution] += len(held)
        return {
            "series": len(self._series),
            "max_series": self._max_series,
            "raw_samples": raw,
            "buckets": buckets,
            "max_buckets_per_series": self._max_buckets,
            "idle_seconds": self._idle,
        }

    def names(self) -> list[str]:
        """Every name that has a series, once, sorted."""
        return sorted(self._by_name)

    def every(self) -> list[Series]:
        """Every series (the objects themselves: read them, do not change them)."""
        return list(self._series.values())

    def named(self, name: str) -> list[Series]:
        """The series of one name (as `every`, the objects themselves)."""
        return list(self._by_name.get(name, {}).values())

    def delete_keys(self, keys: set[str]) -> int:
        """Forget these series (by `series_key`) wholly (the admin's delete); how many went."""
        gone = keys & self._series.keys()
        self._forget(gone)
        return len(gone)

    def raw(self, name: str, labels: Labels = ()) -> list[tuple[float, float]]:
        """The raw samples of a series as (unix seconds, value)."""
        series = self._series.get(series_key(name, labels))
        if series is None:
            raise NotFound(f"no series {series_key(name, labels)!r}")
        return [(t / 1000, v) for t, v in zip(series.times, series.values, strict=True)]

    def query(
        self, name: str, resolution: str, start: float, end: float
    ) -> list[tuple[int, Rollup]]:
        """The buckets of `resolution` that start within [start, end], newest first."""
        if resolution not in RESOLUTIONS:
            raise InvalidInput(f"granularity {resolution!r} is not one of {', '.join(RESOLUTIONS)}")
        if start > end:
            raise InvalidInput("the start is after the end")
        found: dict[int, Rollup] = {}
        named = self.named(name)
        for series in named:
            for bucket, rollup in series.rollups[resolution].items():
                if start <= bucket <= end:
                    _merge(found, bucket, rollup)
        if not named:
            raise NotFound(f"no metric named {name!r}")
        return sorted(found.items(), key=lambda pair: pair[0], reverse=True)

    def state(self) -> dict[str, Any]:
        """Everything, as copies a thread may encode while the buffer changes (statefile.py)."""
        return {
            key: {
                **({"name": s.name, "labels": s.labels} if s.labels else {}),
                "newest": s.newest,
                "times": s.times[:],  # packed by statefile.py
                "values": s.values.tolist(),
                "rollups": {
                    res: [[b, r.count, r.total, r.low, r.high] for b, r in buckets.items()]
                    for res, buckets in s.rollups.items()
                },
                "seen_at": s.seen_at,
                "floors": dict(s.floors),
            }
            for key, s in self._series.items()
        }

    def load(self, state: dict[str, Any]) -> None:
        """Replace everything with a `state()` taken earlier. A state saved before series could
        expire lacks `seen_at` and `floors`: its series count as just seen, and unbounded."""
        self._series = {
            key: Series(
                name=s.get("name", key),
                labels=tuple((k, v) for k, v in s.get("labels", ())),
                newest=s["newest"],
                **_raw_columns(s),
                rollups={
                    res: {b: Rollup(c, t, lo, hi) for b, c, t, lo, hi in rows}
                    for res, rows in s["rollups"].items()
                },
                seen_at=s.get("seen_at"),
                floors=dict(s.get("floors", {})),
            )
            for key, s in state.items()
        }
        self._by_name = {}
        for key, series in self._series.items():
            self._by_name.setdefault(series.name, {})[key] = series


def to_ms(ts: float) -> int:
    """Unix seconds as whole milliseconds, truncated (to microseconds first: 1.001 * 1000 is
    1000.9999999999999, which is 1001 ms)."""
    return round(ts * 1_000_000) // 1000


def _raw_columns(saved: dict[str, Any]) -> dict[str, array]:
    """A saved series' raw samples as columns; a state saved before columns holds them as
    [seconds, value] pairs, maybe two in a millisecond (the last kept)."""
    if "raw" not in saved:
        return {"times": statefile.unpack(saved["times"]), "values": array("d", saved["values"])}
    times, values = columns(saved["raw"])
    return {"times": times, "values": values}


def columns(pairs: Iterable[tuple[float, float]]) -> tuple[array, array]:
    """(unix seconds, value) pairs sorted by time as columns in ms, one a millisecond: the
    last of it."""
    last: dict[int, float] = {}
    for ts, value in pairs:
        last[to_ms(ts)] = value
    return array("q", last), array("d", last.values())


def _merge(found: dict[int, Rollup], bucket: int, rollup: Rollup) -> None:
    """Add `rollup` into the bucket of `found` (a copy: the series' own stays as it is)."""
    held = found.get(bucket)
    if held is None:
        found[bucket] = Rollup(rollup.count, rollup.total, rollup.low, rollup.high)
        return
    held.count += rollup.count
    held.total += rollup.total
    held.low = min(held.low, rollup.low)
    held.high = max(held.high, rollup.high)
