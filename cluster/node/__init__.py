"""What runs in each node process beside the HTTP app: the node's lifecycle (node.py), group
commit (batcher.py), discovery, the direct path's client side (link.py) and, in ray_client.py
only, everything Ray. Imports nothing of the actor but its class, to hand it to Ray."""
