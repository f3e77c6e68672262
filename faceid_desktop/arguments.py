"""Command-line parsing shared by ``faceid`` and ``faceid-desktop``: usage errors in one line."""

from __future__ import annotations

import argparse

#: The exit code of a usage error, as of every other bad input.
USAGE_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (the usage block is one ``--help`` away)
    and exit 2; subcommands' parsers are of the same class (argparse makes them like their parent)."""

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")
