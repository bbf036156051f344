"""`python -m l4lb_tui.lab ...` runs `l4lb lab ...` until the main CLI has it."""

import sys

from l4lb_tui.lab.cli import main

sys.exit(main(["lab", *sys.argv[1:]]))
