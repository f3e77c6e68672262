"""``faceid train``: adapt the network to a profile's owner (triplet loss), or drop the adapter."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np

from ..model_files import PRETRAINED_MODEL_ID
from . import common
from .common import EXIT_OK, InputError, Parents, emit, expand_inputs, open_store, plural
from .profile_settings import estimate


def add_command(commands, parents: Parents) -> None:
    """Define ``train`` on the subcommand group ``commands``."""
    train = commands.add_parser("train", parents=[parents.data], help="adapt the network to a profile's owner (triplet loss)",
                                description="Train an adapter on the owner's photos (the profile's enrollment photos "
                                "and video frames, or INPUTs) against 'not me' photos, the other profiles and the "
                                "population model, and store it in the profile with its threshold. --off drops it.")
    train.add_argument("name", metavar="NAME", help="profile name")
    train.add_argument("inputs", nargs="*", metavar="INPUT", help="owner photos or folders (default: the enrollment sources)")
    train.add_argument("--not-me", nargs="+", metavar="PATH", help="photos or folders of other people")
    train.add_argument("--seed", type=seed, default=0, help="random seed (same seed, same adapter)")
    train.add_argument("--off", action="store_true", help="drop the profile's adapter")
    train.set_defaults(run=run, trailing="inputs")


def seed(text: str) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1 (what numpy's and torch's generators take).

    Raises:
        argparse.ArgumentTypeError: anything else.
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {2**32 - 1}, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Train and store an adapter, or drop it with --off.

    Raises:
        InputError: a profile of fewer than 2 templates, fewer than 2 owner photos, owner photos of someone
            else, or --off with photos.
    """
    from ..adaptation import (adapter_from_result, chips_from_sources, default_threshold, largest_face_chips,
                              with_adapter)
    from ..background import BackgroundModel
    from ..enrollment import SAME_PERSON_DISTANCE
    from ..verification import distances
    from ..images import read_rgb
    from ..storage import AdapterFileError
    from ..training import TrainingConfig, train_owner

    store = open_store(args)
    if args.off:
        if args.inputs or args.not_me:
            raise InputError("--off takes no photos")
        try:
            current = store.load(args.name, PRETRAINED_MODEL_ID)
            if current.adapter is None:
                emit(args, {"name": args.name, "adapter": False, "threshold": current.settings.threshold},
                     f"{args.name}: has no adapter; nothing changed")
                return EXIT_OK
            saved = store.update_existing(args.name, lambda current: with_adapter(current, None), PRETRAINED_MODEL_ID)
            kept = ("the default" if saved.settings.threshold == default_threshold(None)
                    else "the same estimated FAR as before")
        except AdapterFileError:
            # Dropping is the way out of a missing or damaged adapter file: the profile is read without it;
            # a threshold set in the adapter's space cannot be carried over then, so the default applies.
            saved = store.update_existing(args.name, lambda current: replace(
                current, adapter=None, settings=replace(current.settings, threshold=default_threshold(None))),
                PRETRAINED_MODEL_ID, read_adapter=False)
            kept = "the default: the adapter's file was missing or damaged"
        threshold = saved.settings.threshold
        emit(args, {"name": args.name, "adapter": False, "threshold": threshold},
             f"{args.name}: adapter dropped; threshold {threshold:.3f} ({kept})")
        return EXIT_OK
    store.check_writable()
    pipeline = common.load_pipeline()
    profile = store.load(args.name, pipeline.embedder.model_id)
    if len(profile.templates) < 2:
        # checked before anything is trained or written: an adapted profile's threshold is calibrated on the
        # spread of its templates, and with one there is none (the adapter used to be saved, then refused)
        raise InputError(f"profile {args.name} has {plural(len(profile.templates), 'template')}: training needs 2 or "
                         f"more to calibrate the adapted threshold; add photos first (faceid enroll {args.name} "
                         "PHOTO... --add)")

    def far_from_owner(vectors: np.ndarray) -> np.ndarray:
        # The enrollment's own test for "a different person".
        return distances(vectors, profile.embeddings, "mean") > SAME_PERSON_DISTANCE

    if args.inputs:
        owner = largest_face_chips(pipeline, [read_rgb(p) for p in expand_inputs(args.inputs)])
        if len(owner) and far_from_owner(pipeline.embedder.embed(owner)).any():
            raise InputError(f"some of these photos look like a different person from profile {args.name}; "
                             "train only on the owner's photos")
        missing: list[str] = []
    else:
        owner, missing = chips_from_sources(pipeline, profile)
    if len(owner) < 2:
        unreadable = f"; {plural(len(missing), 'enrollment source')} cannot be read again" if missing else ""
        raise InputError(f"training needs at least 2 photos of the owner; found {len(owner)}{unreadable}: "
                         f"pass the owner's photos (faceid train {args.name} PHOTO...)")
    notes = []
    not_me = None
    if args.not_me:
        not_me = largest_face_chips(pipeline, [read_rgb(p) for p in expand_inputs(args.not_me)])
        keep = far_from_owner(pipeline.embedder.embed(not_me)) if len(not_me) else np.zeros(0, bool)
        if not keep.all():
            notes.append(f"{plural(int((~keep).sum()), 'not-me photo')} looking like the owner left out")
        not_me = not_me[keep] if keep.any() else None
    others = []
    for other in store.names():
        if other == args.name:
            continue
        try:
            embeddings = store.load(other, pipeline.embedder.model_id).embeddings
        except (ValueError, OSError):
            continue  # a damaged or foreign profile is no reason not to train this one
        if len(embeddings) and far_from_owner(embeddings.mean(axis=0)[None]).all():
            others.append(embeddings)
        else:  # the same person under another name must not be trained away as a stranger
            notes.append(f"profile {other} looks like the same person: not used as a stranger")
    negatives = np.concatenate(others) if others else None
    show = sys.stderr.isatty() and not args.json

    def progress(p) -> None:
        if show:
            print(f"\rtraining {p.step}/{p.steps}: loss {p.loss:.4f}, {p.active_triplets:.0%} active triplets, "
                  f"{p.remaining:.0f} s left ", end="", file=sys.stderr, flush=True)

    result = train_owner(pipeline.embedder.network, owner, not_me_chips=not_me, negative_embeddings=negatives,
                         background=BackgroundModel.load(), config=TrainingConfig(seed=args.seed), progress=progress)
    if show:
        print(file=sys.stderr)
    adapter = adapter_from_result(result)
    # the profile as it is now (another command may have changed its settings meanwhile), not as read
    saved = store.update_existing(args.name, lambda current: with_adapter(current, adapter), pipeline.embedder.model_id)
    rates, words = estimate(saved)
    payload = {"name": args.name, "adapter": True, "owner_chips": len(owner), "not_me_chips": 0 if not_me is None else len(not_me),
               "other_profiles": len(others), "skipped_sources": missing, "notes": notes, "seconds": round(result.seconds, 2),
               "final_loss": result.losses[-1] if result.losses else None, "threshold": saved.settings.threshold,
               **rates}
    note = f"; {plural(len(missing), 'source')} not found again" if missing else ""
    note += "".join(f"; {n}" for n in notes)
    emit(args, payload, f"{args.name}: adapted on {plural(len(owner), 'owner chip')}, "
          f"{payload['not_me_chips']} not-me chips, {plural(len(others), 'other profile')} in {result.seconds:.1f} s"
          f"{note}; threshold {saved.settings.threshold:.3f}. Measured on the owner protocol, adaptation did not "
          f"lower the error rates: undo with faceid train {args.name} --off\n  {words}")
    return EXIT_OK
