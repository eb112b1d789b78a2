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
    shards = await node.status()
    # The original's words: "warm" while the node serves but its store does not answer. An
    # actor not created yet is fine: the first write creates it.
    down = [s for s in shards if s["state"] not in ("alive", "not created")]
    store_up = not down
    return {
        "status": "up" if store_up else "warm",
        "resources": [
            {
                "name": "store",
                "status": "up" if store_up else "down",
                "message": "; ".join(f"shard {s['shard']} is {s['state']}" for s in down),
            }
        ],
        "node": settings.node_name,
        "uptime_s": round(node.uptime, 3),
        "ray": {"connected": node.store.connected, "address": settings.ray.address},
        "actor": shards[0],  # shard 0, as before shards
        "shards": shards,
        "live": request.app.state.hub.stats(),
    }


@router.get("/cluster")
async def cluster(settings: SettingsDep, node: NodeDep) -> dict[str, Any]:
    me = [
        {"name": n.name, "url": n.url, "status": "up", "self": True}
        for n in settings.nodes
        if n.name == settings.node_name
    ]
    ray_nodes, shards = await asyncio.gather(node.store.ray_nodes(), node.status())
    actor = shards[0]
    return {
        "node": settings.node_name,
        "peers": me + node.discovery.table(),
        "ray_nodes": [
            {
                **n,
                "actor_here": n["node_id"] == actor.get("node_id"),
                "shards_here": [s["shard"] for s in shards if s.get("node_id") == n["node_id"]],
            }
            for n in ray_nodes
        ],
        "actor": actor,  # shard 0, as before shards
        "shards": shards,
    }
