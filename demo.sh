#!/usr/bin/env bash
# Runs the demo: builds a lab of network namespaces with real backends,
# attaches the balancer, loads the lab's backends, starts traffic and opens
# the operator console.  ./demo.sh --keep leaves the lab up afterwards.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/l4lb demo "$@"
