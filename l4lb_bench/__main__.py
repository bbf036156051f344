"""python -m l4lb_bench COMMAND ...: the same as `l4lb bench COMMAND ...`."""

import sys

from l4lb_bench.cli import main

sys.exit(main())
