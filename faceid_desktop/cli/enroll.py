"""``faceid enroll``: create a profile (or add to one) from photos, folders, videos or a camera."""

from __future__ import annotations

import argparse
import sys
import time

from ..model_files import PRETRAINED_MODEL_ID
from . import common
from .common import EXIT_ERROR, EXIT_OK, InputError, Parents, emit, expand_inputs, one_line, open_store, plural, seconds


def add_command(commands, parents: Parents) -> None:
    """Define ``enroll`` on the subcommand group ``commands``."""
    enroll = commands.add_parser("enroll", parents=[parents.data, parents.frames], help="create a profile from photos, folders, videos or a camera",
                                 description="Create profile NAME from the faces in photos, folders of photos, videos "
                                 "(good frames are picked) or a camera (N or camera:N, filmed for 6 s). Prints how many "
                                 "templates were kept and why others were dropped. All inputs must show one person; in "
                                 "a photo of several people, the face that matches the other inputs is taken.")
    enroll.add_argument("name", metavar="NAME", help="profile name (letters, digits, . _ -)")
    enroll.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, folders of photos, videos, camera index")
    enroll.add_argument("--add", action="store_true", help="add templates to profile NAME (created if missing)")
    enroll.add_argument("--seconds", type=seconds, default=6.0, metavar="SECONDS",
                        help="how long a camera is filmed, wall-clock seconds (default 6)")
    enroll.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Enroll all the inputs or nothing.

    Raises:
        InputError: the profile exists (without --add), no usable new face, or inputs of different people.
    """
    from ..enrollment import collect_templates, drop_duplicates, strangers
    from ..profile import Profile, check_name, split_source

    name = check_name(args.name)
    store = open_store(args)
    store.check_new_name(name)  # now, not after a minute of video processing (update checks it again)
    from ..storage import OutdatedProfileError

    reference: tuple = ()  # the profile's templates tell the owner's face in group photos (--add)
    if store.exists(name):
        try:
            reference = store.load(name, PRETRAINED_MODEL_ID).templates
        except OutdatedProfileError:
            pass  # made by the older face model: this enrollment replaces it
        else:
            if not args.add:
                raise InputError(f"profile {name} exists: use --add to add templates, or "
                                 f"'faceid profiles remove {name}'")
    items = expand_inputs(args.inputs, videos=True)
    store.check_writable()  # fail now, not after a minute of video processing
    pipeline = common.load_pipeline()
    result = collect_templates(pipeline, items, camera_seconds=args.seconds, dark_threshold=args.dark_threshold,
                               reference=reference)
    if result.errors:  # enroll all or nothing: a profile missing photos the user chose would surprise them
        for error in result.errors:
            print(f"faceid: {one_line(str(error))} (nothing enrolled)", file=sys.stderr)
        emit(args, {"profile": name, "error": "; ".join(result.errors) + " (nothing enrolled)"}, "")
        return EXIT_ERROR
    summary: dict = {}

    def change(current: Profile | None) -> Profile:
        if current is not None and not args.add:
            raise InputError(f"profile {name} was created meanwhile by another command; nothing enrolled")
        existing = current.templates if current is not None else ()
        unique = drop_duplicates(result.templates)
        if len(unique) < len(result.templates):
            result.dropped["given twice"] += len(result.templates) - len(unique)
        new = drop_duplicates(unique, existing)
        if len(new) < len(unique):
            result.dropped["already enrolled"] += len(unique) - len(new)
        summary["added"] = len(new)
        if not new and current is not None and result.templates:
            return current  # every face is enrolled already: rerunning a command changes nothing
        if not new:
            dropped = ", ".join(f"{n} x {r}" for r, n in result.dropped.most_common()) or "none"
            raise InputError(f"no usable new face in the inputs (dropped: {dropped}); nothing enrolled")
        odd = strangers(new, existing)
        if odd:
            inputs = list(dict.fromkeys(split_source(t.source)[0] for t in new))  # in the order given
            if not existing and len(inputs) == 2 and len({split_source(src)[0] for src, _ in odd}) == 2:
                # two inputs that differ: each is as far from the other, and naming the first blamed a good photo
                raise InputError(f"{inputs[0]} and {inputs[1]} look like two different people (distance "
                                 f"{odd[0][1]:.2f}); nothing enrolled")
            source, distance = odd[0]
            whom = f"profile {name}" if existing else "the other inputs"
            raise InputError(f"{source} looks like a different person from {whom} (distance {distance:.2f}); "
                             "nothing enrolled")
        now = time.time()
        if current is not None:
            return Profile(name, current.model_id, current.templates + tuple(new), current.settings,
                           current.created_at, now)
        return Profile(name, pipeline.embedder.model_id, tuple(new), created_at=now, updated_at=now)

    profile = store.update(name, change, model_id=pipeline.embedder.model_id, replace_outdated=not args.add)
    dropped = ", ".join(f"{count} x {reason}" for reason, count in result.dropped.most_common()) or "none"
    emit(args, {"profile": name, "templates": len(profile.templates), "added": summary["added"],
                 "dropped": dict(result.dropped)},
          f"Enrolled {name}: kept {plural(summary['added'], 'template')} "
          f"({len(profile.templates)} in the profile); dropped: {dropped}")
    return EXIT_OK
