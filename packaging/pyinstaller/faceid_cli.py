"""The bundle's ``faceid``. PyInstaller runs its entry script as ``__main__``, where the package's relative
imports fail, so the console-script target is imported instead of running cli.py itself."""

import sys

from faceid_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
