"""Test doubles that stand in for the cluster's processes.

`InProcessStore` is a node's store client (cluster/node/node.py `StoreClient`) over a real
`MetricsActor` in this process, on its own SQLite file: the routes, the batcher and the actor's
rules run exactly as in a node, with no Ray head, no actor process and no socket. Nothing here
imports Ray (tests/unit/api/test_without_ray.py checks that).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from cluster.actor import MetricsActor
from cluster.common import wire
from cluster.common.errors import StoreUnavailable

IN_PROCESS = "in-process"


class InProcessStore:
    """A store client whose actor lives in this process. The actor is created on `start()` (as
    a node creates it on its first call), with `limits` as the keyword arguments
    `MetricsActor` takes (max_counters, record_limits, ...).

    Batches and their answers go through the wire codec, as over the direct path or Ray, so a
    field the codec would drop or refuse fails here too. Reads return what the actor returns
    (Ray would pickle it: the same values)."""

    def __init__(self, db_path: str | Path, **limits: Any) -> None:
        self.db_path = Path(db_path)
        self.limits = limits
        self.actor: MetricsActor | None = None
        self.batches = 0  # batches sent to the actor, for tests of the node's batching

    @property
    def connected(self) -> bool:
        return self.actor is not None

    async def start(self) -> None:
        if self.actor is None:
            # A copy: MetricsActor rewrites the `record_limits` dict it is given in place, so
            # the same dict would fail a second start (a restart on the same file).
            self.actor = MetricsActor(str(self.db_path), **copy.deepcopy(self.limits))

    async def close(self) -> None:
        if self.actor is not None:
            actor, self.actor = self.actor, None
            await actor.close()

    def _live(self) -> MetricsActor:
        if self.actor is None:
            raise StoreUnavailable("the in-process store is not started (or already closed)")
        return self.actor

    async def apply(self, batch: wire.Batch) -> wire.BatchDone:
        actor = self._live()
        self.batches += 1
        answer = actor.answer(wire.decode_batch(wire.encode(batch)))
        answer = wire.decode_answer(wire.encode(answer))
        if isinstance(answer, wire.StoreFailed):
            raise StoreUnavailable(f"the counter store cannot write: {answer.detail}")
        return answer

    async def read(self, query: wire.Read) -> Any:
        wire.encode(query)  # as the Ray client does (its key): what the wire cannot carry fails
        return await self._live().read(query)

    async def delete_series(self, request: wire.DeleteSeries) -> dict[str, int]:
        return await self._live().delete_series(request)

    async def status(self) -> dict[str, Any]:
        if self.actor is None:
            return {"state": "not created"}
        return {
            "state": "alive",
            **self.actor.describe(),
            "node_id": IN_PROCESS,
            "actor_id": IN_PROCESS,
        }

    async def ray_nodes(self) -> list[dict[str, Any]]:
        return [{"node_id": IN_PROCESS, "address": "127.0.0.1:0", "alive": True}]
