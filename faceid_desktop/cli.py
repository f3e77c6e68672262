"""The ``faceid`` command line, over the same core as the desktop app.

Exit codes: 0 success, 2 bad input (one line on stderr per problem, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
from .images import IMAGE_SUFFIXES, ImageError, read_rgb

EXIT_OK, EXIT_ERROR = 0, 2


class InputError(ValueError):
    """A command-line input that cannot be used; the message is shown as is."""


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Expand files and folders into the list of image files to read (a folder's images, sorted by name).

    Raises:
        InputError: a path does not exist, or a folder holds no image.
    """
    paths: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{path}: folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
            paths.extend(found)
        elif path.exists():
            paths.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return paths


def _cmd_embed(args: argparse.Namespace) -> int:
    from .pipeline import default_pipeline

    paths = expand_inputs(args.inputs)
    pipeline = default_pipeline(max_height=args.max_height, upsample=args.upsample)
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
        faces = len(detected)
        vector = [round(float(v), 7) for v in found[0].vector] if found else None
        results.append({"path": str(path), "faces": faces, "embedding": vector})
        if not args.json:
            if found:
                box = found[0].face.box
                head = " ".join(f"{v:+.3f}" for v in found[0].vector[:4])
                print(f"{path}: {faces} face(s); largest at {box}; embedding [{head} ...] (128-d)")
            else:
                print(f"{path}: no face found")
    if args.json:
        json.dump(results, sys.stdout)
        print()
    return status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``faceid`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="faceid", description="FaceID Desktop: face unlock through an ordinary webcam."
    )
    parser.add_argument("--version", action="version", version=f"faceid {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    embed = commands.add_parser(
        "embed",
        help="print the 128-d embedding of the largest face of each photo",
        description="Detect faces in photos and print the 128-d embedding of the largest one "
        "(dlib's scale: distances below about 0.6 mean the same person).",
    )
    embed.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders of photos")
    embed.add_argument("--json", action="store_true",
                       help='print a JSON list of {"path", "faces", "embedding"} objects')
    embed.add_argument("--max-height", type=int, default=320, metavar="PX",
                       help="detect on a copy scaled down to this many rows (default 320)")
    embed.add_argument("--upsample", type=int, default=0, metavar="N",
                       help="double the detection image N times to find smaller faces (default 0)")
    embed.set_defaults(run=_cmd_embed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``faceid``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (InputError, ValueError, OSError) as error:
        print(f"faceid: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
