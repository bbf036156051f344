"""`python -m l4lb_tui.lab ...` runs `l4lb lab ...`."""

import sys

from l4lb_tui.cli import main

sys.exit(main(["lab", *sys.argv[1:]]))
