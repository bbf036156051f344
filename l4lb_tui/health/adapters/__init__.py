"""The health checks' side effects, one module per kernel interface, each
with its one error type: `sockets` (SocketError) and `tunnel` (TunnelError)."""
