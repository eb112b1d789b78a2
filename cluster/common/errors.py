"""Domain errors raised in cluster/; api/errors.py maps each to one HTTP status."""

from __future__ import annotations


class ClusterError(Exception):
    """Base of every error a caller is expected to turn into a response."""

    default_code: str | None = None

    def __init__(self, detail: str, *, message: str | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        # What an original system's clients read (api/errors.py words each contract's body):
        # a fixed sentence (metrics-server, metricSys) or a code (loopstock).
        self.message = message
        self.code = code or self.default_code


class InvalidInput(ClusterError):
    """The request itself is wrong; retrying it unchanged cannot succeed."""


class TooLate(InvalidInput):
    """A sample's time window has already closed; its result is published and stays as it is."""

    default_code = "late_integer"


class TooLarge(InvalidInput):
    """The request holds more than a cap allows (items, labels); split it."""


class NotFound(ClusterError):
    """The thing asked for does not exist."""


class LimitReached(ClusterError):
    """Applying the request would cross a configured bound (distinct counters, value range)."""


class Overloaded(ClusterError):
    """Too much is waiting (the node's queue, the actor's Idempotency-Keys): nothing of the
    request was applied, and the same request may succeed shortly."""

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class KeyReused(ClusterError):
    """An Idempotency-Key came back with a different request than the one it first named."""


class StoreUnavailable(ClusterError):
    """The counter store did not answer before the deadline; the write was applied fully or not
    at all, and a retry with the same Idempotency-Key (or batch id) is safe."""

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
