"""The health checks' rules: pure functions and values, no I/O, no clock."""
