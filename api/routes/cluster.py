"""The node's view of the cluster: GET /health and GET /cluster."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray
from fastapi import APIRouter, Request

from api.deps import DiscoveryDep, SettingsDep, StoreDep

router = APIRouter(tags=["cluster"])


@router.get("/health")
async def health(request: Request, settings: SettingsDep, store: StoreDep) -> dict[str, Any]:
    """200 while this node serves. The actor's state is reported, never created here.
    `status` and `resources` are the original metrics-server's shape."""
    actor = await store.status()
    # The original's words: "warm" while the node serves but its store does not answer. An
    # actor not created yet is fine: the first write creates it.
    store_up = actor["state"] in ("alive", "not created")
    return {
        "status": "up" if store_up else "warm",
        "resources": [
            {
                "name": "store",
                "status": "up" if store_up else "down",
                "message": "" if store_up else f"the counter store is {actor['state']}",
            }
        ],
        "node": settings.node_name,
        "uptime_s": round(time.monotonic() - request.app.state.started, 3),
        "ray": {"connected": ray.is_initialized(), "address": settings.ray.address},
        "actor": actor,
    }


@router.get("/cluster")
async def cluster(
    settings: SettingsDep, store: StoreDep, discovery: DiscoveryDep
) -> dict[str, Any]:
    me = [
        {"name": n.name, "url": n.url, "status": "up", "self": True}
        for n in settings.nodes
        if n.name == settings.node_name
    ]
    ray_nodes, actor = await asyncio.gather(asyncio.to_thread(ray.nodes), store.status())
    return {
        "node": settings.node_name,
        "peers": me + discovery.table(),
        "ray_nodes": [
            {
                "node_id": n["NodeID"],
                "address": f"{n['NodeManagerAddress']}:{n['NodeManagerPort']}",
                "alive": n["Alive"],
                "actor_here": n["NodeID"] == actor.get("node_id"),
            }
            for n in ray_nodes
        ],
        "actor": actor,
    }
