"""Domain errors raised in cluster/; api/errors.py maps each to one HTTP status."""

from __future__ import annotations


class ClusterError(Exception):
    """Base of every error a caller is expected to turn into a response."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(ClusterError):
    """The request itself is wrong; retrying it unchanged cannot succeed."""


class NotFound(ClusterError):
    """The thing asked for does not exist."""


class LimitReached(ClusterError):
    """Applying the request would cross a configured bound (distinct counters, value range)."""


class KeyReused(ClusterError):
    """An Idempotency-Key came back with a different request than the one it first named."""


class StoreUnavailable(ClusterError):
    """The counter store did not answer before the deadline; the write was applied fully or not
    at all, and a retry with the same Idempotency-Key (or batch id) is safe."""

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
