"""The ``faceid`` parser, assembled from the command modules, and its entry point with the exit-code plumbing.

Exit codes: 0 success (``verify``: every input matched), 1 no match (``verify``), 2 bad input or error
(one line on stderr per problem, never a traceback, nothing written; with ``--json`` also one JSON object
on stdout, ``{"error": "<the line>"}``, usage errors included), 3 refused (``auth``). Heavy modules
(torch, OpenCV, dlib) are imported inside the commands, so ``--help`` is instant and Ctrl-C is handled from
the start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from .. import __version__
from ..arguments import OneLineParser, UsageExit, directory
from . import alpha, auth, calibrate, embed, enroll, profiles, threshold, train, verify
from .common import (DEFAULT_DARK_THRESHOLD, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, Parents, describe_error, emit,
                     error_object, one_line, percent)

#: The command modules in the order ``faceid --help`` lists them; each defines ``add_command`` and ``run``.
COMMANDS = (enroll, verify, auth, profiles, threshold, alpha, calibrate, train, embed)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``faceid`` and its subcommands."""
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print machine-readable JSON")
    as_json.set_defaults(error_object=error_object)  # a command may replace it (auth: its attempt's fields)
    data = argparse.ArgumentParser(add_help=False, parents=[as_json])
    data.add_argument("--data-dir", type=directory, metavar="DIR",
                      help="where profiles are kept (default: $FACEID_HOME, else the user data directory)")
    frames = argparse.ArgumentParser(add_help=False)
    frames.add_argument("--dark-threshold", type=percent, default=DEFAULT_DARK_THRESHOLD, metavar="PERCENT",
                        help="a frame without a face is reported as too dark when more than PERCENT of its "
                        f"pixels are in the darkest eighth (after contrast equalisation; default "
                        f"{DEFAULT_DARK_THRESHOLD:g}, Howdy's); 100: never")

    parser = OneLineParser(prog="faceid", description="FaceID Desktop: face unlock through an ordinary webcam.")
    parser.add_argument("--version", action="version", version=f"faceid {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = Parents(as_json=as_json, data=data, frames=frames)
    for command in COMMANDS:
        command.add_command(commands, parents)
    for sub in commands.choices.values():
        sub.set_defaults(command_parser=sub)  # so that a usage error names the command's own --help
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, except that a command whose last positional takes any number of values
    (``set_defaults(trailing=NAME)``: ``train NAME [INPUT...]``) also takes those given after an option
    (``faceid train me --seed 5 photos/``), as a command whose positional needs one or more already does;
    so does an optional last positional (``profiles show --json me``: argparse gives ``name`` nothing when an
    option follows ``show``).

    Raises:
        UsageExit: a bad command line (through ``parser.error``).
    """
    args, extra = parser.parse_known_args(argv)
    command = getattr(args, "command_parser", parser)
    trailing = getattr(args, "trailing", None)
    value = getattr(args, trailing, None) if trailing else None
    if extra and trailing and not any(item.startswith("-") for item in extra) and (
            isinstance(value, list) or (value is None and len(extra) == 1)):
        if isinstance(value, list):
            value.extend(extra)
        else:
            setattr(args, trailing, extra[0])
    elif extra:
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``faceid``; returns the exit code."""
    args = None
    try:
        # OpenCV and FFmpeg would print their own warnings for every unreadable video or missing camera;
        # our one-line errors say the same, so their log is limited to real errors.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        try:
            args = parse(build_parser(), argv)
        except UsageExit as usage:
            # a script that asked for JSON reads one object on stdout, also when the command line is wrong
            if "--json" in (sys.argv[1:] if argv is None else argv):
                print(json.dumps(error_object(None, usage.line)), flush=True)
            raise
        from ..threads import configure_threads, prepare_environment

        prepare_environment()
        configure_threads()
        return args.run(args)
    # BrokenPipeError is an OSError: caught first, or it would be reported as an error (and, with --json,
    # written to the closed pipe again). E.g. `faceid profiles show me | head -1`: the reader has what it wanted.
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (ValueError, OSError) as error:  # InputError, ProfileError, ImageError, SourceError, ...
        return _fail(args, describe_error(error))
    except KeyboardInterrupt:
        print("faceid: interrupted; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: still one line, with the way to see the traceback
        if os.environ.get("FACEID_DEBUG"):
            raise
        return _fail(args, f"unexpected error ({type(error).__name__}: {error}); run with FACEID_DEBUG=1 to see where")


def _fail(args: argparse.Namespace | None, message: str) -> int:
    """Report an error that ends the command: one line on stderr and, with ``--json``, one JSON object on
    stdout (so that a script reading it never gets nothing); returns the exit code 2."""
    print(f"faceid: {one_line(message)}", file=sys.stderr)
    if getattr(args, "json", False):
        emit(args, args.error_object(args, message), "")
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
