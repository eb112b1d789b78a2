"""`GET /metrics` in Prometheus's exposition formats, for a scraper that prefers them (an
`Accept` that ranks `text/plain` or `application/openmetrics-text` above JSON, as Prometheus's
own does); `curl` and browsers keep the JSON.

Rendered by prometheus_client from one read of the actor (every counter and each sample
series' newest point, one state): each sample series' newest value as a gauge of its name and
labels, then counters as counter families (`<label>_total`; a label already ending in `_total`
keeps it once). A text holds each name once, so a family whose names (a gauge's name; a counter's
family name, `_total` and `_created`) one exposed before it already took is left out: gauges
before counters (as a query sees a sample series before a counter of its name), each in name
order. Names Prometheus cannot read unquoted are left out too (a counter `a-b`).
`unexposed_series` counts what was left out. Ordered by name and labels, so every node
answers the same text for the same state."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_UNEXPOSED = "unexposed_series"
FORMATS = ("text/plain", "application/openmetrics-text")
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
JSON = ("application/json", "application/*", "*/*")

Latest = tuple[str, tuple[tuple[str, str], ...], float, float]  # name, labels, ts, value


def chosen(accept: str) -> str | None:
    """The exposition format the client ranks above JSON (q-values as RFC 9110 has them; a
    range without q has 1), OpenMetrics when it weighs at least as much as the text format;
    None: JSON."""
    best = _weights(accept)
    text, openmetrics = best["text/plain"], best["application/openmetrics-text"]
    if max(text, openmetrics) <= best["json"]:
        return None
    return OPENMETRICS if openmetrics >= text else "text/plain"


def _weights(accept: str) -> dict[str, float]:
    """The highest q each of the two formats and JSON get."""
    best = dict.fromkeys((*FORMATS, "json"), 0.0)
    for media_range in accept.split(","):
        kind, *params = (part.strip().lower() for part in media_range.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0  # a malformed weight counts as none
        side = kind if kind in FORMATS else "json" if kind in JSON else None
        if side:
            best[side] = max(best[side], quality)
    return best


class _Snapshot:
    """A one-shot collector over what the actor answered."""

    def __init__(self, counters: Mapping[str, int], samples: Iterable[Latest]) -> None:
        self._counters = counters
        self._samples = sorted(samples, key=lambda s: (s[0], s[1]))

    def collect(self) -> Iterable[Metric]:
        taken = {_UNEXPOSED}
        unexposed = 0
        gauges: dict[str, GaugeMetricFamily] = {}
        for name, labels, _, value in self._samples:
            family = gauges.get(name)
            if family is None:
                if not _NAME.fullmatch(name) or name in taken:
                    unexposed += 1
                    continue
                taken.add(name)
                family = gauges[name] = GaugeMetricFamily(name, f"samples of {name}")
            family.add_sample(name, dict(labels), value)
        yield from gauges.values()
        for label in sorted(self._counters):
            family_name = label.removesuffix("_total")
            names = {family_name, f"{family_name}_total", f"{family_name}_created"}
            if not _NAME.fullmatch(family_name) or names & taken:  # `_total` alone: ""
                unexposed += 1
                continue
            taken |= names
            family = CounterMetricFamily(family_name, f"counter {label}")
            family.add_metric([], self._counters[label])
            yield family
        yield GaugeMetricFamily(
            _UNEXPOSED,
            "counters and sample series left out: a name Prometheus cannot read unquoted, or "
            "one a series exposed before took",
            value=unexposed,
        )


def render(kind: str, counters: Mapping[str, int], samples: Iterable[Latest]) -> tuple[bytes, str]:
    """The exposition in the format `chosen` gave, and its Content-Type."""
    encoder, content_type = choose_encoder(kind)
    return encoder(_Snapshot(counters, samples)), content_type  # type: ignore[arg-type]
