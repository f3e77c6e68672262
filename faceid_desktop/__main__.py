"""``python -m faceid_desktop``: the desktop app; with a CLI command first (enroll, verify, ...), the CLI."""

import sys


def _cli_commands() -> set[str]:
    """The subcommand names of ``faceid`` (read from its parser, so new commands dispatch too)."""
    import argparse

    from .cli import build_parser

    commands = set()
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    return commands or {"enroll", "verify", "profiles", "threshold", "embed"}


def main(argv: list[str] | None = None) -> int:
    """Dispatch: a CLI command (or ``--version``) as the first argument runs ``faceid``; anything else opens
    the app (``--help`` shows the app's options)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and (argv[0] == "--version" or argv[0] in _cli_commands()):
        from .cli import main as cli_main

        return cli_main(argv)
    from .gui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
