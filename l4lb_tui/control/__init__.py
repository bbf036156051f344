"""What a `Balancer` (balancer.py, the façade every caller uses) does, one
job a module: attaching its program, reading its state, reloading its
backends, switching its mode, trying offload."""
