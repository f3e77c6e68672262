"""``faceid embed``: the 128-d embedding of the largest face of each photo."""

from __future__ import annotations

import argparse
import sys

from . import common
from .common import EXIT_ERROR, EXIT_OK, Parents, emit, expand_inputs, one_line, plural


def add_command(commands, parents: Parents) -> None:
    """Define ``embed`` on the subcommand group ``commands``."""
    embed = commands.add_parser("embed", parents=[parents.as_json], help="print the 128-d embedding of the largest face of each photo",
                                description="Detect faces in photos and print the 128-d embedding of the largest one "
                                "(unit length, SFace: distances below about 0.93 mean the same person).")
    embed.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders of photos")
    embed.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print each photo's face count and largest face's embedding; exit 2 when a photo cannot be read."""
    from ..images import ImageError, read_rgb

    paths = expand_inputs(args.inputs)
    pipeline = common.load_pipeline()
    results, status = [], EXIT_OK
    for path in paths:
        try:
            image = read_rgb(path)
        except ImageError as error:
            print(f"faceid: {one_line(str(error))}", file=sys.stderr)
            results.append({"path": str(path), "error": str(error)})  # --json says which photo failed too
            status = EXIT_ERROR
            continue
        detected = pipeline.detector.detect(image)
        found = pipeline.embed_faces(image, detected[:1])
        vector = [round(float(v), 7) for v in found[0].vector] if found else None
        results.append({"path": str(path), "faces": len(detected), "embedding": vector})
        if not args.json:
            if found:
                head = " ".join(f"{v:+.3f}" for v in found[0].vector[:4])
                print(f"{path}: {plural(len(detected), 'face')}; largest at {found[0].face.box}; "
                      f"embedding [{head} ...] (128-d)")
            else:
                print(f"{path}: no face found")
    if args.json:
        emit(args, results, "")
    return status
