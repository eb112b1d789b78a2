"""Live feeds over WebSockets: the Phoenix channel protocol and the node's fan-out."""
