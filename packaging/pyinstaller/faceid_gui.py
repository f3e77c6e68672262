"""The bundle's ``faceid-desktop``; a script of its own for the same reason as faceid_cli.py."""

import sys

from faceid_desktop.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
