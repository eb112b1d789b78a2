"""Programs that talk to the cluster over HTTP only (no Ray): the host agent the supervisor
runs beside the nodes, and what the load and simulation scripts share."""
