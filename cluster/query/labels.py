"""Label sets as the engine keys them: sorted (name, value) tuples, hashable and ordered."""

from __future__ import annotations

from collections.abc import Collection, Mapping

Labels = tuple[tuple[str, str], ...]
METRIC_NAME = "__name__"


def from_mapping(labels: Mapping[str, str]) -> Labels:
    """Empty values are dropped: in Prometheus a label with value "" does not exist."""
    return tuple(sorted((name, value) for name, value in labels.items() if value != ""))


def drop_name(labels: Labels) -> Labels:
    return tuple(pair for pair in labels if pair[0] != METRIC_NAME)


def keep(labels: Labels, names: Collection[str]) -> Labels:
    return tuple(pair for pair in labels if pair[0] in names)


def without(labels: Labels, names: Collection[str]) -> Labels:
    """The labels less `names` and less the metric name."""
    return tuple(pair for pair in labels if pair[0] not in names and pair[0] != METRIC_NAME)


def render(labels: Labels) -> str:
    """`{a="1", b="2"}` for error messages, as Prometheus prints label sets."""
    return "{" + ", ".join(f'{name}="{value}"' for name, value in labels) + "}"
