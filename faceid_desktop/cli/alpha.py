"""``faceid alpha``: show, set or turn off a profile's alpha (cohort) rule."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_OK, Parents, emit, open_store
from .profile_settings import change_settings

#: Above this margin the alpha rule itself rejects owners (benchmarks/scoring.py: 1.07% at 0.20 whatever
#: the FAR, where 0.05 and 0.10 cost nothing).
LOOSE_ALPHA = 0.1


def add_command(commands, parents: Parents) -> None:
    """Define ``alpha`` on the subcommand group ``commands``."""
    alpha = commands.add_parser("alpha", parents=[parents.data], help="show, set or turn off a profile's alpha (cohort) rule",
                                description="With VALUE (a distance, 0-1), turn on the alpha rule: accept only when "
                                "distance + VALUE <= the distance to the nearest of a fixed cohort of synthetic strangers, "
                                "besides the threshold. 'off' goes back to the threshold rule alone.")
    alpha.add_argument("name", metavar="NAME", help="profile name")
    alpha.add_argument("value", nargs="?", type=_alpha_value, metavar="VALUE", help="margin (0-1) or off")
    alpha.set_defaults(run=run)


def _alpha_value(text: str) -> float | str:
    if text == "off":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a distance from 0 to 1 or 'off', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Show the alpha rule, turn it on with a margin, or off."""
    if args.value is None:
        settings = open_store(args).load(args.name).settings
        state = f"on, alpha {settings.alpha:.3g}" if settings.rule == "alpha" else f"off (turned on, it keeps alpha {settings.alpha:.3g})"
        emit(args, {"name": args.name, "rule": settings.rule, "alpha": settings.alpha},
              f"{args.name}: alpha rule {state}")
        return EXIT_OK
    changes = {"rule": "threshold"} if args.value == "off" else {"rule": "alpha", "alpha": args.value}
    _, profile = change_settings(args, **changes)
    if args.value != "off" and args.value > LOOSE_ALPHA:
        print(f"faceid: warning: alpha {args.value:.3g} is above {LOOSE_ALPHA}: the owner will often be rejected "
              "(the nearest synthetic stranger is rarely that much farther than the owner)", file=sys.stderr)
    settings = profile.settings
    text = (f"{args.name}: alpha rule on: accept when distance <= {settings.threshold:.3g} and distance + "
            f"{settings.alpha:.3g} <= distance to the nearest cohort stranger" if settings.rule == "alpha"
            else f"{args.name}: alpha rule off: accept when distance <= {settings.threshold:.3g}")
    emit(args, {"name": args.name, "rule": settings.rule, "alpha": settings.alpha}, text)
    return EXIT_OK
