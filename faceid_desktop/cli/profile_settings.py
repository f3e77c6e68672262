"""What the commands that change a profile's decision settings share (threshold, alpha, calibrate, train):
the atomic change, and the estimated error rates said in words."""

from __future__ import annotations

import argparse
import sys

from ..model_files import PRETRAINED_MODEL_ID
from .common import InputError, open_store

def estimate(profile) -> tuple[dict, str]:
    """The estimated error rates of a profile's threshold: for ``--json`` ``estimated_far`` and
    ``estimated_frr`` (shares from 0 to 1; the FRR None for an adapted profile: not estimated here), and the
    same in words."""
    from ..calibration import calibrate, describe_frr
    from ..loosening import estimate_far

    t = profile.settings.threshold
    far = estimate_far(profile, t)
    if profile.adapter is not None:
        return {"estimated_far": far.far, "estimated_frr": None}, f"estimated with the adapter: {far.words}"
    frr = calibrate(profile).frr_at(t)
    return {"estimated_far": far.far, "estimated_frr": frr}, f"estimated: {far.words}; {describe_frr(frr)}"


def check_loosening(args: argparse.Namespace, profile, threshold: float, apply: bool = True):
    """Say how loose ``threshold`` would be on ``profile``: a warning on stderr above FAR 1e-3, and above
    1e-2 refuse (nothing is changed) unless ``--yes`` was given. Returns the
    :class:`~faceid_desktop.loosening.Loosening`.

    Raises:
        InputError: FAR above 1e-2 without ``--yes`` (when ``apply``).
    """
    import dataclasses

    from ..loosening import assess_threshold

    loosening = assess_threshold(dataclasses.replace(profile, settings=dataclasses.replace(
        profile.settings, threshold=threshold)), threshold)
    if loosening.needs_confirmation and apply and not args.yes:
        raise InputError(f"{loosening.message}; nothing changed: add --yes to set it anyway")
    if loosening.level != "ok":
        print(f"faceid: warning: {loosening.message}", file=sys.stderr)
    return loosening


def change_settings(args: argparse.Namespace, **changes) -> tuple[object, object]:
    """Change profile ``args.name``'s settings atomically; returns (previous, saved) profiles.

    Raises:
        ProfileError: no such profile (or it is damaged), or it was removed meanwhile.
    """
    store = open_store(args)
    store.load(args.name, PRETRAINED_MODEL_ID)  # an unknown profile: its clear error (inside update the lock is already held)
    previous: list = []

    def change(current):
        previous.append(current)
        return current.with_settings(**changes)

    saved = store.update_existing(args.name, change)
    return previous[0], saved

