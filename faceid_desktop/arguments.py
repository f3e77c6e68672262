"""Command-line parsing shared by ``faceid`` and ``faceid-desktop``: usage errors in one line."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

#: The exit code of a usage error, as of every other bad input.
USAGE_ERROR = 2


class UsageExit(SystemExit):
    """The exit of a usage error (code :data:`USAGE_ERROR`), carrying its one line (``line``) so that a
    caller can also report it in another form (``faceid --json``)."""

    def __init__(self, line: str) -> None:
        super().__init__(USAGE_ERROR)
        self.line = line


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (the usage block is one ``--help`` away)
    and exit 2 (:class:`UsageExit`); subcommands' parsers are of the same class (argparse makes them like
    their parent)."""

    #: What argparse takes for a negative number rather than an option: its own rule knows only -5 and
    #: -.5, so ``faceid threshold me -inf`` (or -1e-5) read as an unknown option instead of reaching the
    #: value's range check. No option of ours looks like a number.
    _NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = self._NEGATIVE_NUMBER  # argparse's attribute for that rule

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 (argparse's, plus the check below)
        given = list(sys.argv[1:] if args is None else args)
        self._refuse_repeated_options(given[:given.index("--")] if "--" in given else given)
        return super().parse_known_args(args, namespace)

    def _refuse_repeated_options(self, given: list[str]) -> None:
        # A value option given twice (`--profile me --profile aoc`) was the last one, silently. Each
        # subcommand's parser sees its own part of the command line here.
        for action in self._actions:  # argparse offers no public list of a parser's options
            if not action.option_strings or not isinstance(action, argparse._StoreAction):
                continue
            times = sum(1 for a in given if a.split("=", 1)[0] in action.option_strings)
            if times > 1:
                self.error(f"{action.option_strings[-1]} given {times} times; give it once")

    def error(self, message: str):
        line = f"{self.prog}: {message} (see {self.prog} --help)"
        self._print_message(line + "\n", sys.stderr)
        raise UsageExit(line)


def directory(text: str) -> Path:
    """A directory path, ``~`` expanded: an existing directory, or a new one in an existing folder.

    Raises:
        argparse.ArgumentTypeError: an empty name, something that exists and is not a directory, or a path
            whose parent folder does not exist.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("empty directory name")
    path = Path(text).expanduser()
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a directory")
    if not path.exists() and not path.absolute().parent.is_dir():
        # a mistyped path would otherwise become a tree of new folders holding face data
        raise argparse.ArgumentTypeError(f"{path.absolute().parent} does not exist (create it first, or check "
                                         "the path)")
    return path
