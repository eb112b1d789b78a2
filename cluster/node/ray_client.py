"""The node's one way to the actor, and everything Ray-specific a node does: join the Ray head,
get-or-create the actor race-safely, send batches (over the direct path, Ray as its fallback),
read, and report the actor and the Ray nodes.

Retry rules, per failed attempt of a Ray call:
- `ActorUnavailableError` or a timeout: the call may or may not have run. Retry the same call
  (same arguments, so the same batch id) on the same handle; the actor deduplicates.
- `ActorDiedError`, a lost get-or-create race (`ValueError`), any other Ray system error: drop
  the handle and get-or-create again.
- An exception raised by the actor's own code: not retried, it would fail again.
Each attempt of a batch waits at most `call_timeout` (short: see the setting). Backoff doubles
from 50 ms to 1 s (tenacity); past `store_deadline` the caller gets `StoreUnavailable`.

A read is one call awaited until `store_deadline`, never resubmitted on a timeout: Ray does not
cancel a call, so a resubmitted slow read would run again beside the first and hold the one
actor (and every write) for that much longer. Identical reads in flight on a node share one call.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

import ray
import tenacity
from ray.exceptions import ActorUnavailableError, RayError, RayTaskError

from cluster.common import wire
from cluster.common.config import NAMESPACE, Settings
from cluster.common.errors import ClusterError, StoreUnavailable
from cluster.common.shards import actor_name, db_name
from cluster.node.link import DirectLink

log = logging.getLogger(__name__)

_RESOLVE_TIMEOUT = 10.0  # creating the actor includes recovering its log
_BACKOFF = tenacity.wait_exponential(multiplier=0.05, min=0.05, max=1.0)


def actor_options(shard: int = 0) -> dict[str, Any]:
    """A shard actor's identity and failure policy; every node must create it identically."""
    return {
        "name": actor_name(shard),
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
    previous = signal.getsignal(signal.SIGTERM)

    def join() -> None:
        try:
            ray.init(
                address=settings.ray.address,
                namespace=NAMESPACE,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        except (ConnectionError, RayError) as exc:
            ray.shutdown()
            log.warning("Ray head at %s not ready (%s); retrying", settings.ray.address, exc)
            raise

    try:
        tenacity.Retrying(
            stop=tenacity.stop_after_delay(settings.ray.connect_timeout),
            wait=tenacity.wait_fixed(1.0),
            retry=tenacity.retry_if_exception_type((ConnectionError, RayError)),
            reraise=True,
        )(join)
    except (ConnectionError, RayError) as exc:
        raise ConnectionError(f"no Ray head at {settings.ray.address}: {exc}") from exc
    finally:
        signal.signal(signal.SIGTERM, previous)


def _retried(error: BaseException) -> bool:
    return isinstance(error, ActorUnavailableError | TimeoutError | RayError | ValueError) and (
        not isinstance(error, RayTaskError)
    )


def _retried_unless_timeout(error: BaseException) -> bool:
    return _retried(error) and not isinstance(error, TimeoutError)


class RayStoreClient:
    """The way to one shard's actor: holds at most one handle (one get-or-create at a time)
    and the direct link. The client of shard 0 joins Ray and leaves it for all of them."""

    def __init__(self, settings: Settings, shard: int = 0) -> None:
        self._settings = settings
        self._shard = shard
        self._handle: Any = None
        self._resolving = asyncio.Lock()
        self._actor_class: Any = None
        self._link = DirectLink(self._endpoint, self._apply_by_ray, self.attempt_timeout)
        self._reads: dict[tuple[type, bytes], asyncio.Future[Any]] = {}

    async def start(self) -> None:
        if not ray.is_initialized():
            connect_ray(self._settings)

    async def close(self) -> None:
        self._link.close()
        if self._shard == 0:
            ray.shutdown()

    @property
    def connected(self) -> bool:
        return ray.is_initialized()

    async def apply(self, batch: wire.Batch) -> wire.BatchDone:
        """Apply `batch` durably (over the direct path unless `data_path` is "ray")."""
        if self._handle is None:
            # Finding or creating the actor (which recovers its log first) has its own budget
            # (`_resolve`), not one attempt's: the first batch must not time out on it.
            await self._call("info")
        if self._settings.data_path == "direct":
            answer = await self._link.apply(batch)
        else:
            answer = await self._apply_by_ray(batch)
        if isinstance(answer, wire.StoreFailed):
            raise StoreUnavailable(f"the counter store cannot write: {answer.detail}")
        return answer

    async def read(self, query: wire.Read) -> Any:
        key = (type(query), wire.encode(query))  # list fields make the structs unhashable
        shared = self._reads.get(key)
        if shared is None:
            shared = asyncio.ensure_future(
                self._call("read", query, timeout=self._settings.store_deadline, resubmit=False)
            )
            self._reads[key] = shared
            shared.add_done_callback(lambda _: self._reads.pop(key, None))
        # Shielded: one reader going away (its client hung up) does not cancel the others'.
        return await asyncio.shield(shared)

    async def delete_series(self, request: wire.DeleteSeries) -> dict[str, int]:
        # Saving the buffers may take longer than a batch's attempt: one call, not resubmitted.
        deadline = self._settings.store_deadline
        return await self._call("delete_series", request, timeout=deadline, resubmit=False)

    def attempt_timeout(self, batch: wire.Batch) -> float:
        """How long one attempt at applying a batch may take: `call_timeout`, plus 1 s per
        100k labels or records it carries."""
        return self._settings.call_timeout + batch.size() / 100_000

    async def _apply_by_ray(self, batch: wire.Batch) -> wire.BatchAnswer:
        frame = await self._call("apply", wire.encode(batch), timeout=self.attempt_timeout(batch))
        return wire.decode_answer(frame)

    async def _endpoint(self) -> tuple[str, int, str]:
        return await self._call("endpoint")

    async def _call(
        self, method: str, *args: Any, timeout: float | None = None, resubmit: bool = True
    ) -> Any:
        """Call `method` on the actor under the retry rules above; `resubmit=False`: a timed
        out attempt is not retried (reads)."""
        settings = self._settings
        deadline = time.monotonic() + settings.store_deadline
        retried = _retried if resubmit else _retried_unless_timeout
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_before_delay(settings.store_deadline),
            wait=_BACKOFF,
            retry=tenacity.retry_if_exception(retried),
            before_sleep=lambda state: log.log(
                _level(state.outcome.exception()),
                "store call %s failed (%r); retrying",
                method,
                state.outcome.exception(),
            ),
        )
        try:
            return await retrying(
                self._attempt, method, args, timeout or settings.call_timeout, deadline
            )
        except (tenacity.RetryError, TimeoutError) as exc:
            last = exc.last_attempt.exception() if isinstance(exc, tenacity.RetryError) else exc
            raise StoreUnavailable(
                f"the counter store did not answer within {settings.store_deadline:g} s "
                f"({_last_line(last)}); the request was applied fully or not at all"
            ) from None

    async def _attempt(
        self, method: str, args: tuple[Any, ...], timeout: float, deadline: float
    ) -> Any:
        try:
            handle = await self._resolve()
            left = max(0.05, deadline - time.monotonic())  # no attempt outlives the deadline
            return await asyncio.wait_for(getattr(handle, method).remote(*args), min(timeout, left))
        except RayTaskError as exc:  # the actor's own answer, e.g. NotFound: not retried
            if isinstance(exc.cause, ClusterError):
                raise exc.cause from None
            raise
        except ActorUnavailableError:
            raise  # same handle: it comes back after a restart
        except (RayError, ValueError):
            self._handle = None
            raise

    async def status(self, timeout: float = 1.0) -> dict[str, Any]:
        """The actor's state for /health, without creating it: "not created", "alive" (with its
        epoch, pid and node) or "unavailable"."""
        try:
            if self._handle is None:
                self._handle = await asyncio.wait_for(
                    asyncio.to_thread(ray.get_actor, actor_name(self._shard), NAMESPACE), timeout
                )
            info = await asyncio.wait_for(self._handle.info.remote(), timeout)
        except ValueError:
            return {"state": "not created"}
        except (RayError, TimeoutError) as exc:
            return {"state": "unavailable", "error": type(exc).__name__}
        return {"state": "alive", **info}

    async def ray_nodes(self) -> list[dict[str, Any]]:
        """The Ray nodes of the cluster: id, address, alive."""
        nodes = await asyncio.to_thread(ray.nodes)
        return [
            {
                "node_id": n["NodeID"],
                "address": f"{n['NodeManagerAddress']}:{n['NodeManagerPort']}",
                "alive": n["Alive"],
            }
            for n in nodes
        ]

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
        if self._actor_class is None:
            # The node hands the actor's class to Ray and never calls it itself: everything
            # it sends the actor is a wire message.
            from cluster.actor import MetricsActor

            self._actor_class = ray.remote(MetricsActor)
        s = self._settings
        return self._actor_class.options(**actor_options(self._shard)).remote(
            db_path=str(s.data_dir.resolve() / db_name(self._shard)),
            shard=self._shard,
            durability=s.durability,
            max_counters=s.max_counters,
            dedup_window=s.dedup_window,
            idempotency_window=s.idempotency_window,
            max_keys=s.max_idempotency_keys,
            max_key_bytes=s.max_idempotency_bytes,
            snapshot_every=s.snapshot_every,
            crash_after_commits=s.test_crash_after_commits,
            record_limits=s.buffers.record_limits(),
            records_snapshot_seconds=s.buffers.snapshot_seconds,
        )


def _level(error: BaseException | None) -> int:
    """A lost get-or-create race (ValueError) is expected when nodes start together: not a
    warning. Everything else retried means the actor is in trouble."""
    return logging.INFO if isinstance(error, ValueError) else logging.WARNING


def _last_line(error: BaseException | None) -> str:
    """The telling line of a Ray error (its message often ends with the cause's traceback)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1][:300] if lines else ''}"
