"""``python -m faceid_desktop``: the command line until the desktop app lands."""

import sys

from .cli import main

sys.exit(main())
