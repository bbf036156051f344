"""python -m l4lb_tui.bench COMMAND ...: the same as `l4lb bench COMMAND ...`."""

import sys

from l4lb_tui.bench.cli import main

sys.exit(main())
