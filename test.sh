#!/usr/bin/env bash
# Runs the whole test suite: set-up, lint, types, then every test (kernel
# tests included: they need root and run for real).  Extra arguments go to
# pytest, e.g. ./test.sh -k dataplane
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check l4lb_tui l4lb_bench tests
.venv/bin/ruff format --check l4lb_tui l4lb_bench tests
echo "== mypy"
.venv/bin/mypy l4lb_tui l4lb_bench
echo "== pytest"
# Three workers on two cores: most kernel tests wait on daemons, labs and
# timeouts rather than compute (2026-12-01, fresh clone: 1,403 passed in
# 12 min with 3, 16 min with 2).  Each worker has its own run directory
# and pin root (tests/conftest.py).
exec .venv/bin/python -m pytest -p no:cacheprovider -ra -n "${L4LB_TEST_WORKERS:-3}" "$@"
