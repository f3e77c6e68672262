"""``python -m faceid_desktop.cli``: the ``faceid`` command line."""

import sys

from .main import main

sys.exit(main())
