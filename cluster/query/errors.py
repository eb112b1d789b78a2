"""The one error the query package raises, and the bounds it enforces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cluster.common.errors import InvalidInput

ErrorType = Literal["bad_data", "execution"]


class QueryError(InvalidInput):
    """A query that cannot be answered: bad syntax or types (`bad_data`, nothing to retry), or
    an evaluation that failed or crossed a bound (`execution`), Prometheus's two errorTypes."""

    def __init__(
        self, message: str, *, position: int | None = None, error_type: ErrorType = "bad_data"
    ) -> None:
        # Positions are 0-based offsets in the query text; people count characters from 1.
        detail = message if position is None else f"{message} at char {position + 1}"
        super().__init__(detail, code=error_type)
        self.position = position
        self.error_type: ErrorType = error_type
        self._message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in the actor, it crosses to the node pickled: keep its keyword arguments.
        return (_rebuild, (self._message, self.position, self.error_type))


def _rebuild(message: str, position: int | None, error_type: ErrorType) -> QueryError:
    return QueryError(message, position=position, error_type=error_type)


@dataclass(frozen=True)
class Limits:
    """What one query may cost. The defaults follow Prometheus where it has a bound (11,000
    steps a series) and are scaled to a Python evaluator elsewhere."""

    max_length: int = 10_000  # characters of query text
    max_depth: int = 100  # levels of the parse tree; evaluation recurses once per level
    max_regex_length: int = 4_096  # characters of one =~ or !~ pattern
    max_series: int = 100_000  # series matched by all selectors together
    max_examined: int = 100_000  # series looked at to find them (cluster/actor/select.py)
    max_steps: int = 11_000  # points a series of a range query may have
    max_samples: int = 5_000_000  # points read by selectors over all steps
    max_points: int = 1_000_000  # points in the answer
