"""``faceid calibrate``: set a profile's threshold for a target false accept rate."""

from __future__ import annotations

import argparse

from ..model_files import PRETRAINED_MODEL_ID
from .common import EXIT_OK, InputError, Parents, emit, open_store
from .profile_settings import change_settings, check_loosening

#: How an adapted profile's FAR is estimated (the shipped tables describe the pretrained network).
SYNTHETIC_NOTE = ", carried into the adapter's space by synthetic strangers"


def add_command(commands, parents: Parents) -> None:
    """Define ``calibrate`` on the subcommand group ``commands``."""
    calibrate = commands.add_parser("calibrate", parents=[parents.data], help="set a profile's threshold for a target FAR",
                                    description="Estimate the profile's error rates from its own templates and the "
                                    "population statistics shipped with FaceID Desktop, and set the threshold whose "
                                    "estimated false accept rate is --far.")
    calibrate.add_argument("name", metavar="NAME", help="profile name")
    calibrate.add_argument("--far", type=float, default=1e-5, help="target false accept rate (default 1e-5)")
    calibrate.add_argument("--dry-run", action="store_true", help="print the threshold without setting it")
    calibrate.add_argument("--yes", action="store_true",
                           help="set it even when more than 1 stranger in 100 would be accepted")
    calibrate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Set (or with --dry-run, print) the threshold whose estimated FAR is --far.

    Raises:
        InputError: --far outside (0, 1) or below what can be estimated, an adapted profile with fewer than 2 templates, or a loose
            threshold without --yes.
    """
    from ..calibration import describe_far, describe_frr
    from ..loosening import calibrate_any
    from ..profile import MIN_THRESHOLD

    if not 0 < args.far < 1:
        raise InputError(f"--far must be between 0 and 1, got {args.far}")
    store = open_store(args)
    profile = store.load(args.name, PRETRAINED_MODEL_ID)
    calibration = calibrate_any(profile)
    threshold = round(calibration.threshold_for_far(args.far), 3)
    if threshold < MIN_THRESHOLD:
        raise InputError(f"--far {args.far:g} is below what the population statistics can estimate for this "
                         f"profile (about {calibration.far_at(MIN_THRESHOLD):.0e} at the smallest threshold, "
                         f"{MIN_THRESHOLD})")
    far, frr = calibration.far_at(threshold), calibration.frr_at(threshold)
    check_loosening(args, profile, threshold, apply=not args.dry_run)
    payload = {"name": args.name, "target_far": args.far, "threshold": threshold, "estimated_far": far,
               "estimated_frr": frr, "dry_run": args.dry_run}
    if not args.dry_run:
        previous, _ = change_settings(args, threshold=threshold)
        payload["previous"] = previous.settings.threshold
    verb = "would set" if args.dry_run else "set"
    emit(args, payload, f"{args.name}: {verb} threshold {threshold:.3f} for FAR {args.far:g}: "
         f"{describe_far(far)}; {describe_frr(frr)} (estimated from {len(profile.templates)} templates"
         f"{SYNTHETIC_NOTE if profile.adapter is not None else ''})")
    return EXIT_OK
