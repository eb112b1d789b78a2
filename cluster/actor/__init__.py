"""What runs inside the actor's process: the state (counters and record buffers), its durable
log, and the direct path's server. No HTTP, no FastAPI; Ray only where the actor needs its
runtime. The nodes import `MetricsActor` only to hand it to Ray."""

from cluster.actor.actor import MetricsActor

__all__ = ["MetricsActor"]
