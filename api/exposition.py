"""`GET /metrics` in Prometheus's exposition formats, for a scraper that asks for them
(`Accept: text/plain; version=0.0.4` or `application/openmetrics-text`); `curl` keeps the JSON.

Rendered by prometheus_client: counters as counter families (`<label>_total`), each sample
series' newest value as a gauge of its name and labels. Only names Prometheus can read
unquoted are exposed (a counter `a-b` is not: `unexposed_counters` counts them); where a
sample series and a counter share a name, the samples' gauge is exposed (as a query sees it).
Ordered by name and labels, so every node answers the same text for the same state."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
FORMATS = ("text/plain", "application/openmetrics-text")

Latest = tuple[str, tuple[tuple[str, str], ...], float, float]  # name, labels, ts, value


def wanted(accept: str) -> bool:
    """Whether the client asks for an exposition format rather than JSON."""
    return any(kind in accept for kind in FORMATS)


class _Snapshot:
    """A one-shot collector over what the actor answered."""

    def __init__(self, counters: Mapping[str, int], samples: Iterable[Latest]) -> None:
        self._counters = counters
        self._samples = sorted(samples, key=lambda s: (s[0], s[1]))

    def collect(self) -> Iterable[Metric]:
        gauges: dict[str, GaugeMetricFamily] = {}
        for name, labels, _, value in self._samples:
            if not _NAME.fullmatch(name):
                continue
            family = gauges.get(name)
            if family is None:
                family = gauges[name] = GaugeMetricFamily(name, f"samples of {name}")
            family.add_sample(name, dict(labels), value)
        yield from gauges.values()
        unexposed = 0
        for label in sorted(self._counters):
            family_name = label.removesuffix("_total")
            if not _NAME.fullmatch(label) or label in gauges or family_name in gauges:
                unexposed += 1
                continue
            family = CounterMetricFamily(family_name, f"counter {label}")
            family.add_metric([], self._counters[label])
            yield family
        yield GaugeMetricFamily(
            "unexposed_counters",
            "counters whose label is no Prometheus metric name, or a sample series' name",
            value=unexposed,
        )


def render(
    accept: str, counters: Mapping[str, int], samples: Iterable[Latest]
) -> tuple[bytes, str]:
    """The exposition the Accept header prefers, and its Content-Type."""
    encoder, content_type = choose_encoder(accept)
    return encoder(_Snapshot(counters, samples)), content_type  # type: ignore[arg-type]
