"""What a `Balancer` (balancer.py, the façade every caller uses) does, one
job a module: its handle (pins, link, map reads, the write lock), attaching
its program, reading its state, reloading its backends, switching its mode,
trying offload."""
