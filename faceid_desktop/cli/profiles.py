"""``faceid profiles``: list, show or remove profiles."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, InputError, Parents, emit, open_store, plural


def add_command(commands, parents: Parents) -> None:
    """Define ``profiles`` on the subcommand group ``commands``."""
    profiles = commands.add_parser("profiles", parents=[parents.data], help="list, show or remove profiles",
                                   description="List the profiles, show one, or remove one.")
    profiles.add_argument("action", choices=("list", "show", "remove"))
    profiles.add_argument("name", nargs="?", metavar="NAME", help="profile name (show, remove)")
    profiles.set_defaults(run=run)


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
        names = store.names()
        emit(args, names, "\n".join(names) if names else "no profiles yet: faceid enroll NAME PHOTO...")
        return EXIT_OK
    if not args.name:
        raise InputError(f"'faceid profiles {args.action}' needs a profile name")
    if args.action == "show":
        summary = _summary(store.load(args.name))
        settings = ", ".join(f"{k} {v}" for k, v in summary["settings"].items())
        emit(args, summary, f"{summary['name']}: {plural(summary['templates'], 'template')}; {settings}\n"
              + "\n".join(f"  {s}" for s in summary["sources"]))
        return EXIT_OK
    store.remove(args.name)
    emit(args, {"removed": args.name}, f"removed profile {args.name}")
    return EXIT_OK
