"""Small reusable widgets of the operator console (no I/O in any of them)."""
