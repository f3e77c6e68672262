"""``faceid threshold``: show or set a profile's distance threshold."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, InputError, Parents, emit, open_store
from .profile_settings import change_settings, check_loosening, estimate


def add_command(commands, parents: Parents) -> None:
    """Define ``threshold`` on the subcommand group ``commands``."""
    threshold = commands.add_parser("threshold", parents=[parents.data], help="show or set a profile's distance threshold",
                                    description="Show the distance threshold of profile NAME, or set it to VALUE "
                                    "(a distance between unit-length embeddings; smaller is stricter: fewer strangers accepted, more "
                                    "retries for the owner; the default 0.93 accepts about 1 in 100,000 strangers' photos).")
    threshold.add_argument("name", metavar="NAME", help="profile name")
    threshold.add_argument("value", nargs="?", type=float, metavar="VALUE", help="new threshold (distance, 0.05-2)")
    threshold.add_argument("--yes", action="store_true",
                           help="set it even when more than 1 stranger in 100 would be accepted")
    threshold.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Show the threshold, or set it (judged first: a refused loosening writes nothing).

    Raises:
        InputError: a value out of range, or a loose one without --yes.
    """
    from ..profile import MAX_DISTANCE, MIN_THRESHOLD

    if args.value is None:
        profile = open_store(args).load(args.name)
        old = profile.settings.threshold
        rates, words = estimate(profile)
        emit(args, {"name": args.name, "threshold": old, **rates}, f"{args.name}: threshold {old:.3f}\n  {words}")
        return EXIT_OK
    if not MIN_THRESHOLD <= args.value <= MAX_DISTANCE:
        raise InputError(f"threshold must be a distance from {MIN_THRESHOLD} to {MAX_DISTANCE:g}, got {args.value}")
    # Judged before the change, so that a refused loosening writes nothing.
    loosening = check_loosening(args, open_store(args).load(args.name), args.value)
    previous, profile = change_settings(args, threshold=args.value)
    rates, words = estimate(profile)
    emit(args, {"name": args.name, "threshold": args.value, "previous": previous.settings.threshold,
                 **rates, "level": loosening.level},
          f"{args.name}: threshold {previous.settings.threshold:.3f} -> {args.value:.3f}\n  {words}")
    return EXIT_OK
