"""``faceid profiles``: list, show or remove profiles."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, InputError, Parents, emit, one_line, open_store, plural


def add_command(commands, parents: Parents) -> None:
    """Define ``profiles`` on the subcommand group ``commands``."""
    profiles = commands.add_parser("profiles", parents=[parents.data], help="list, show or remove profiles",
                                   description="List the profiles, show one, or remove one.")
    profiles.add_argument("action", choices=("list", "show", "remove"))
    profiles.add_argument("name", nargs="?", metavar="NAME", help="profile name (show, remove)")
    profiles.set_defaults(run=run, trailing="name")


def describe_profile(profile) -> str:
    """A profile in words, without its template sources: the templates, whether it is adapted (trained
    on this device), and the decision rule with its numbers.

    Example::

        me: 12 templates; adapted on this device (undo: faceid train me --off)
          accept when the distance is at most 0.630, in 2 of the last 5 frames within 4 s; alpha rule off
    """
    s = profile.settings
    network = (f"adapted on this device (undo: faceid train {profile.name} --off)" if profile.adapter is not None
               else "pretrained network, not adapted")
    rule = (f"alpha rule on: also distance + {s.alpha:.3g} <= the distance to the nearest cohort stranger"
            if s.rule == "alpha" else "alpha rule off")
    frames = (f"in {s.frames_to_accept} of the last {s.window} frames" if s.window > 1 else "in 1 frame")
    return (f"{profile.name}: {plural(len(profile.templates), 'template')}; {network}\n"
            f"  accept when the distance is at most {s.threshold:.3f}, {frames} within {s.timeout:g} s; {rule}")


def _summary(profile) -> dict:
    return {"name": profile.name, "templates": len(profile.templates), "model_id": profile.model_id,
            "settings": vars(profile.settings).copy(), "created_at": profile.created_at,
            "updated_at": profile.updated_at, "adapter": profile.adapter is not None,
            "sources": [t.source for t in profile.templates]}


def run(args: argparse.Namespace) -> int:
    """List, show or remove.

    Raises:
        InputError: show or remove without a name; ProfileError: no such profile.
    """
    store = open_store(args)
    if args.action == "list":
        if args.name:
            raise InputError(f"profiles list takes no NAME (got {args.name!r}); to see one: faceid profiles show NAME")
        store.check_trusted()  # as show and remove do: names in another account's folder are not ours
        names = store.names()
        # where it looked: a mistyped --data-dir or FACEID_HOME must not read as profiles lost
        where = store.directory if store.root.is_dir() else f"{store.root} (it does not exist yet)"
        emit(args, names, "\n".join(names) if names else f"no profiles yet in {where}: faceid enroll NAME PHOTO...")
        return EXIT_OK
    if not args.name:
        raise InputError(f"'faceid profiles {args.action}' needs a profile name")
    if args.action == "show":
        profile = store.load(args.name)
        summary = _summary(profile)
        emit(args, summary, describe_profile(profile) + "".join(f"\n  {one_line(s)}" for s in summary["sources"]))
        return EXIT_OK
    store.remove(args.name)
    emit(args, {"removed": args.name}, f"removed profile {args.name}")
    return EXIT_OK
