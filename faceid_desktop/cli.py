"""The ``faceid`` command line, over the same core as the desktop app.

Exit codes: 0 success (``verify``: every input matched), 1 no match (``verify``), 2 bad input or error
(one line on stderr per problem, never a traceback, nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__
from .camera import VIDEO_SUFFIXES
from .images import IMAGE_SUFFIXES, ImageError, read_rgb

EXIT_OK, EXIT_NO_MATCH, EXIT_ERROR = 0, 1, 2


class InputError(ValueError):
    """A command-line input that cannot be used; the message is shown as is."""


def expand_inputs(inputs: Sequence[str], videos: bool = False) -> list[Path]:
    """Expand files and folders into the files to read: a folder gives its images, sorted by name.

    Args:
        inputs: paths as typed.
        videos: accept video files too (``enroll``, ``verify``).

    Raises:
        InputError: a path does not exist, a folder holds no image, or a file is of a type not accepted.
    """
    paths: list[Path] = []
    accepted = IMAGE_SUFFIXES + (VIDEO_SUFFIXES if videos else ())
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{path}: folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
            paths.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in accepted:
                kinds = "photo or video" if videos else "photo"
                raise InputError(f"{path}: not a {kinds} file (expected one of {', '.join(accepted)})")
            paths.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return paths


def _emit(args: argparse.Namespace, payload: object, text: str) -> None:
    if args.json:
        json.dump(payload, sys.stdout)
        print()
    elif text:
        print(text)


def _store(args: argparse.Namespace):
    from .storage import ProfileStore

    return ProfileStore(args.data_dir)


def _pipeline(args: argparse.Namespace):
    from .pipeline import default_pipeline

    return default_pipeline()


# -- embed ---------------------------------------------------------------------------------------------------

def _cmd_embed(args: argparse.Namespace) -> int:
    paths = expand_inputs(args.inputs)
    pipeline = _pipeline(args)
    results, status = [], EXIT_OK
    for path in paths:
        try:
            image = read_rgb(path)
        except ImageError as error:
            print(f"faceid: {error}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        detected = pipeline.detector.detect(image)
        found = pipeline.embed_faces(image, detected[:1])
        vector = [round(float(v), 7) for v in found[0].vector] if found else None
        results.append({"path": str(path), "faces": len(detected), "embedding": vector})
        if not args.json:
            if found:
                head = " ".join(f"{v:+.3f}" for v in found[0].vector[:4])
                print(f"{path}: {len(detected)} face(s); largest at {found[0].face.box}; embedding [{head} ...] (128-d)")
            else:
                print(f"{path}: no face found")
    if args.json:
        _emit(args, results, "")
    return status


# -- enroll --------------------------------------------------------------------------------------------------

def _cmd_enroll(args: argparse.Namespace) -> int:
    from .enrollment import collect_templates
    from .profile import Profile, check_name

    name = check_name(args.name)
    store = _store(args)
    existing = None
    if store.exists(name):
        if not args.add:
            raise InputError(f"profile {name} exists: use --add to add templates, or 'faceid profiles remove {name}'")
    paths = expand_inputs(args.inputs, videos=True)
    pipeline = _pipeline(args)
    if store.exists(name):
        existing = store.load(name, pipeline.embedder.model_id)
    result = collect_templates(pipeline, paths)
    if result.errors:  # enroll all or nothing: a profile missing photos the user chose would surprise them
        for error in result.errors:
            print(f"faceid: {error} (nothing enrolled)", file=sys.stderr)
        return EXIT_ERROR
    dropped = ", ".join(f"{count} {reason}" for reason, count in result.dropped.most_common()) or "none"
    if not result.templates:
        raise InputError(f"no usable face in the inputs (dropped: {dropped}); nothing enrolled")
    now = time.time()
    if existing is not None:
        profile = Profile(name, existing.model_id, existing.templates + tuple(result.templates),
                          existing.settings, existing.created_at, now)
    else:
        profile = Profile(name, pipeline.embedder.model_id, tuple(result.templates), created_at=now, updated_at=now)
    store.save(profile)
    _emit(args, {"profile": name, "templates": len(profile.templates), "added": len(result.templates),
                 "dropped": dict(result.dropped)},
          f"Enrolled {name}: kept {len(result.templates)} template(s) "
          f"({len(profile.templates)} in the profile); dropped: {dropped}")
    return EXIT_OK


# -- verify --------------------------------------------------------------------------------------------------

def _verify_stream(verifier, spec, source_name: str) -> dict:
    import cv2

    from .camera import open_source
    from .verification import StreamVerifier

    stream = StreamVerifier(verifier.profile.settings)
    started = time.perf_counter()
    state = None
    with open_source(spec) as source:
        for frame in source:
            decision = verifier.verify_image(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))
            state = stream.update(decision, frame.timestamp)
            if state.done:
                break
    wall = time.perf_counter() - started
    accepted = state is not None and state.state == "accepted"
    last = state.last if state is not None else None
    return {"input": source_name, "kind": "stream", "accepted": accepted,
            "state": state.state if state is not None and state.done else "ended",
            "elapsed": round(state.elapsed, 3) if state else 0.0, "frames": state.frames if state else 0,
            "matches": state.matches if state else 0, "wall_seconds": round(wall, 3),
            "distance": last.distance if last else None, "threshold": verifier.profile.settings.threshold,
            "reason": last.reason if last else "no frames"}


def _cmd_verify(args: argparse.Namespace) -> int:
    from .camera import SourceError
    from .verification import Verifier

    store = _store(args)
    if not store.exists(args.name):
        store.load(args.name)  # raises the store's clear "unknown profile" error
    cameras = [raw for raw in args.inputs if raw.isdigit() and not Path(raw).exists()]
    paths = expand_inputs([raw for raw in args.inputs if raw not in cameras], videos=True)
    pipeline = _pipeline(args)
    verifier = Verifier(pipeline, store.load(args.name, pipeline.embedder.model_id))
    results, errors = [], 0
    for spec in [int(c) for c in cameras] + paths:
        name = f"camera:{spec}" if isinstance(spec, int) else str(spec)
        try:
            if isinstance(spec, int) or spec.suffix.lower() in VIDEO_SUFFIXES:
                result = _verify_stream(verifier, spec, name)
            else:
                decision = verifier.verify_image(read_rgb(spec))
                result = {"input": name, "kind": "photo", **decision.to_dict()}
        except (ImageError, SourceError) as error:
            print(f"faceid: {error}", file=sys.stderr)
            errors += 1
            continue
        results.append(result)
        if not args.json:
            verdict = "MATCH" if result["accepted"] else "NO MATCH"
            distance = "-" if result["distance"] is None else f"{result['distance']:.3f}"
            extra = "" if result["accepted"] or result["reason"] == "no match" else f" ({result['reason']})"
            if result["kind"] == "stream":
                extra += (f"; {result['matches']} matching of {result['frames']} frames, "
                          f"{result['elapsed']:.2f} s of video, {result['wall_seconds']:.2f} s wall")
            print(f"{name}: {verdict}{extra}; distance {distance}, threshold {result['threshold']:.3f}")
    if args.json:
        _emit(args, results, "")
    if errors:
        return EXIT_ERROR
    return EXIT_OK if results and all(r["accepted"] for r in results) else EXIT_NO_MATCH


# -- profiles, threshold --------------------------------------------------------------------------------------

def _summary(profile) -> dict:
    return {"name": profile.name, "templates": len(profile.templates), "model_id": profile.model_id,
            "settings": vars(profile.settings).copy(), "created_at": profile.created_at,
            "updated_at": profile.updated_at,
            "sources": [t.source for t in profile.templates]}


def _cmd_profiles(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.action == "list":
        names = store.names()
        _emit(args, names, "\n".join(names) if names else "no profiles yet: faceid enroll NAME PHOTO...")
        return EXIT_OK
    if not args.name:
        raise InputError(f"'faceid profiles {args.action}' needs a profile name")
    if args.action == "show":
        summary = _summary(store.load(args.name))
        settings = ", ".join(f"{k} {v}" for k, v in summary["settings"].items())
        _emit(args, summary, f"{summary['name']}: {summary['templates']} templates; {settings}\n"
              + "\n".join(f"  {s}" for s in summary["sources"]))
        return EXIT_OK
    store.remove(args.name)
    _emit(args, {"removed": args.name}, f"removed profile {args.name}")
    return EXIT_OK


def _cmd_threshold(args: argparse.Namespace) -> int:
    store = _store(args)
    profile = store.load(args.name)
    old = profile.settings.threshold
    if args.value is None:
        _emit(args, {"name": args.name, "threshold": old}, f"{args.name}: threshold {old:.3f}")
        return EXIT_OK
    store.save(profile.with_settings(threshold=args.value))
    _emit(args, {"name": args.name, "threshold": args.value, "previous": old},
          f"{args.name}: threshold {old:.3f} -> {args.value:.3f}")
    return EXIT_OK


# -- parser --------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``faceid`` and its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    common.add_argument("--data-dir", type=Path, metavar="DIR",
                        help="where profiles are kept (default: $FACEID_HOME, else the user data directory)")

    parser = argparse.ArgumentParser(prog="faceid", description="FaceID Desktop: face unlock through an ordinary webcam.")
    parser.add_argument("--version", action="version", version=f"faceid {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enroll = commands.add_parser("enroll", parents=[common], help="create a profile from photos, folders or videos",
                                 description="Create profile NAME from the faces in photos, folders of photos and "
                                 "videos (good frames are picked from videos). Prints how many templates were kept "
                                 "and why others were dropped.")
    enroll.add_argument("name", metavar="NAME", help="profile name (letters, digits, . _ -)")
    enroll.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, folders of photos, or videos")
    enroll.add_argument("--add", action="store_true", help="add templates to an existing profile")
    enroll.set_defaults(run=_cmd_enroll)

    verify = commands.add_parser("verify", parents=[common], help="check photos, videos or a camera against a profile",
                                 description="Decide whether each input shows the owner of profile NAME. A photo is "
                                 "one decision; a video or camera index uses the multi-frame rule. Exit code 0 when "
                                 "every input matched, 1 when one did not, 2 on an error.")
    verify.add_argument("name", metavar="NAME", help="profile name")
    verify.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, folders, videos, or a camera index")
    verify.set_defaults(run=_cmd_verify)

    profiles = commands.add_parser("profiles", parents=[common], help="list, show or remove profiles",
                                   description="List the profiles, show one, or remove one.")
    profiles.add_argument("action", choices=("list", "show", "remove"))
    profiles.add_argument("name", nargs="?", metavar="NAME", help="profile name (show, remove)")
    profiles.set_defaults(run=_cmd_profiles)

    threshold = commands.add_parser("threshold", parents=[common], help="show or set a profile's distance threshold",
                                    description="Show the distance threshold of profile NAME, or set it to VALUE "
                                    "(smaller is stricter: fewer strangers accepted, more retries for the owner).")
    threshold.add_argument("name", metavar="NAME", help="profile name")
    threshold.add_argument("value", nargs="?", type=float, metavar="VALUE", help="new threshold (distance, 0-4)")
    threshold.set_defaults(run=_cmd_threshold)

    embed = commands.add_parser("embed", parents=[common], help="print the 128-d embedding of the largest face of each photo",
                                description="Detect faces in photos and print the 128-d embedding of the largest one "
                                "(dlib's scale: distances below about 0.6 mean the same person).")
    embed.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders of photos")
    embed.set_defaults(run=_cmd_embed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``faceid``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as error:  # InputError, ProfileError, ImageError, SourceError, ...
        print(f"faceid: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
