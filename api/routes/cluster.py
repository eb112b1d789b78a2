"""The node's view of the cluster: GET /health and GET /cluster."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from api.deps import NodeDep, SettingsDep

router = APIRouter(tags=["cluster"])


@router.get("/health")
async def health(request: Request, settings: SettingsDep, node: NodeDep) -> dict[str, Any]:
    """200 while this node serves. The actor's state is reported, never created here.
    `status` and `resources` are the original metrics-server's shape."""
    actor = await node.store.status()
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
        "uptime_s": round(node.uptime, 3),
        "ray": {"connected": node.store.connected, "address": settings.ray.address},
        "actor": actor,
        "live": request.app.state.hub.stats(),
    }


@router.get("/cluster")
async def cluster(settings: SettingsDep, node: NodeDep) -> dict[str, Any]:
    me = [
        {"name": n.name, "url": n.url, "status": "up", "self": True}
        for n in settings.nodes
        if n.name == settings.node_name
    ]
    ray_nodes, actor = await asyncio.gather(node.store.ray_nodes(), node.store.status())
    return {
        "node": settings.node_name,
        "peers": me + node.discovery.table(),
        "ray_nodes": [{**n, "actor_here": n["node_id"] == actor.get("node_id")} for n in ray_nodes],
        "actor": actor,
    }
