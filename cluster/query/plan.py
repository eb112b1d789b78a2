"""Which data an evaluation reads: each selector of the expression with its time span, so the
caller can fetch one consistent snapshot before evaluating."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.query.ast import Expr, MatrixSelector, VectorSelector, walk

DEFAULT_LOOKBACK = 300.0  # seconds an instant selector looks back for a point


@dataclass(frozen=True)
class SelectorSpan:
    """A selector and the points it needs: start < t <= end, in milliseconds."""

    selector: VectorSelector
    start_ms: int
    end_ms: int

    @property
    def start(self) -> float:
        """Unix seconds; the span includes it, which is a little more than needed."""
        return self.start_ms / 1000

    @property
    def end(self) -> float:
        return self.end_ms / 1000


def to_ms(seconds: float) -> int:
    """Prometheus keeps times as integer milliseconds; so does the engine."""
    return round(seconds * 1000)


def selector_spans(
    expr: Expr, start: float, end: float | None = None, lookback: float = DEFAULT_LOOKBACK
) -> list[SelectorSpan]:
    """Every selector in `expr`, in order of appearance, with the span it reads for an
    evaluation at `start` (instant) or at each step from `start` to `end` (range)."""
    last = start if end is None else end
    return spans_ms(expr, to_ms(start), to_ms(last), to_ms(lookback))


def spans_ms(expr: Expr, first_ms: int, last_ms: int, lookback_ms: int) -> list[SelectorSpan]:
    """selector_spans with every time in milliseconds (the engine's own units)."""
    spans = []
    nodes = [node for node, _ in walk(expr)]
    ranged = {id(n.selector): n.range_ms for n in nodes if isinstance(n, MatrixSelector)}
    for node in nodes:
        if isinstance(node, VectorSelector):
            window = ranged.get(id(node), lookback_ms)
            first, last = first_ms - node.offset_ms, last_ms - node.offset_ms
            spans.append(SelectorSpan(node, first - window, last))
    return spans
