"""How a node reaches the CounterStore actor: connect to Ray, get-or-create the actor race-safely,
and retry every call by one set of rules (DESIGN.md §3).

Retry rules, per failed attempt:
- `ActorUnavailableError` or a timeout: the call may or may not have run. Retry the same call
  (same arguments, so the same batch id) on the same handle; the actor deduplicates.
- `ActorDiedError`, a lost get-or-create race (`ValueError`), any other Ray system error: drop
  the handle and get-or-create again.
- An exception raised by the actor's own code: not retried, it would fail again.
Each attempt waits at most `call_timeout` (short: see config.py). Backoff doubles from 50 ms to
1 s; past `store_deadline` the caller gets `StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, RayError, RayTaskError

from cluster.config import NAMESPACE, Settings
from cluster.errors import ClusterError, StoreUnavailable
from cluster.storage import StorageError
from cluster.store import CounterStore

log = logging.getLogger(__name__)

ACTOR_NAME = "counter-store"
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 1.0
_RESOLVE_TIMEOUT = 10.0  # creating the actor includes recovering its store


def actor_options() -> dict[str, Any]:
    """The actor's identity and failure policy; every node must create it identically."""
    return {
        "name": ACTOR_NAME,
        "namespace": NAMESPACE,
        "lifetime": "detached",
        "get_if_exists": True,
        "max_restarts": -1,
        "max_task_retries": 0,
        "num_cpus": 0,
    }


def connect_ray(settings: Settings) -> None:
    """Join the cluster's Ray head, retrying until `ray.connect_timeout` (the head may still be
    starting). Keeps the caller's SIGTERM handler: ray.init replaces it, and uvicorn needs its
    own to drain requests instead of failing them."""
    deadline = time.monotonic() + settings.ray.connect_timeout
    previous = signal.getsignal(signal.SIGTERM)
    try:
        while True:
            try:
                ray.init(
                    address=settings.ray.address,
                    namespace=NAMESPACE,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
                return
            except (ConnectionError, RayError) as exc:
                ray.shutdown()
                if time.monotonic() > deadline:
                    raise ConnectionError(f"no Ray head at {settings.ray.address}: {exc}") from exc
                log.warning("Ray head at %s not ready (%s); retrying", settings.ray.address, exc)
                time.sleep(1.0)
    finally:
        signal.signal(signal.SIGTERM, previous)


class StoreClient:
    """A node's way to the actor. Holds at most one handle; one get-or-create at a time."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._handle: Any = None
        self._resolving = asyncio.Lock()
        self._actor_class = ray.remote(CounterStore)

    async def apply(self, batch_id: Any, merged: dict[str, int], items: list[Any]) -> Any:
        """CounterStore.apply, with an attempt timeout that grows with the batch."""
        timeout = self.attempt_timeout(merged, items)
        return await self.call("apply", batch_id, merged, items, timeout=timeout)

    def attempt_timeout(self, merged: dict[str, int], items: list[Any]) -> float:
        """How long one attempt at applying a batch may take: `call_timeout`, plus 1 s per
        100k labels or records it carries."""
        size = len(merged) + sum(
            len(records) + sum(len(labels) for labels, _ in pairs) for pairs, _, records in items
        )
        return self._settings.call_timeout + size / 100_000

    async def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Call `method` on the actor under the retry rules above."""
        settings = self._settings
        timeout = timeout or settings.call_timeout
        deadline = time.monotonic() + settings.store_deadline
        backoff = _FIRST_BACKOFF
        last_error: BaseException | None = None
        while True:
            try:
                handle = await self._resolve()
                ref = getattr(handle, method).remote(*args)
                return await asyncio.wait_for(ref, timeout)
            except StorageError as exc:  # raised in the actor: Ray re-raises it as its cause too
                raise StoreUnavailable(f"the counter store cannot write: {exc}") from None
            except RayTaskError as exc:  # the actor's own answer, e.g. NotFound: not retried
                if isinstance(exc.cause, ClusterError):
                    raise exc.cause from None
                raise
            except (ActorUnavailableError, TimeoutError) as exc:
                last_error = exc
            except (RayError, ValueError) as exc:
                last_error = exc
                self._handle = None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreUnavailable(
                    f"the counter store did not answer within {settings.store_deadline:g} s "
                    f"({_last_line(last_error)}); the request was applied fully or not at all"
                )
            log.warning("store call %s failed (%r); retrying", method, last_error)
            await asyncio.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def status(self, timeout: float = 1.0) -> dict[str, Any]:
        """The actor's state for /health, without creating it: "not created", "alive" (with its
        epoch, pid and node) or "unavailable"."""
        try:
            if self._handle is None:
                self._handle = await asyncio.wait_for(
                    asyncio.to_thread(ray.get_actor, ACTOR_NAME, NAMESPACE), timeout
                )
            info = await asyncio.wait_for(self._handle.info.remote(), timeout)
        except ValueError:
            return {"state": "not created"}
        except (RayError, TimeoutError) as exc:
            return {"state": "unavailable", "error": type(exc).__name__}
        return {"state": "alive", **info}

    async def _resolve(self) -> Any:
        if self._handle is not None:
            return self._handle
        async with self._resolving:
            if self._handle is None:
                handle = await asyncio.wait_for(
                    asyncio.to_thread(self._get_or_create), _RESOLVE_TIMEOUT
                )
                # A name can still point at a dying incarnation: prove the handle answers
                # (a new incarnation first recovers its state: allow for that).
                await asyncio.wait_for(handle.info.remote(), _RESOLVE_TIMEOUT)
                self._handle = handle
        return self._handle

    def _get_or_create(self) -> Any:
        s = self._settings
        return self._actor_class.options(**actor_options()).remote(
            db_path=str(s.db_path),
            durability=s.durability,
            max_counters=s.max_counters,
            dedup_window=s.dedup_window,
            idempotency_window=s.idempotency_window,
            snapshot_every=s.snapshot_every,
            crash_after_commits=s.test_crash_after_commits,
            record_limits=s.buffers.record_limits(),
            records_snapshot_seconds=s.buffers.snapshot_seconds,
        )


def _last_line(error: BaseException | None) -> str:
    """The telling line of a Ray error (its message often ends with the cause's traceback)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1][:300] if lines else ''}"
