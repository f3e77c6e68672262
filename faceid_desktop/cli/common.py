"""What several ``faceid`` commands share: exit codes, the one-line error type, input expansion, output,
the parent parsers' argument types and the lazily loaded store and pipeline.

Heavy modules (torch, OpenCV) are imported inside the functions, so ``faceid --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES, name_order

EXIT_OK, EXIT_NO_MATCH, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2, 3
#: Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: The camera module's default (it imports OpenCV, which ``--help`` must not wait for).
DEFAULT_DARK_THRESHOLD = 60.0
#: A command-line input naming a camera: ``0`` or ``camera:0`` (when no file of that name exists).
CAMERA_SPEC = re.compile(r"^(?:camera:)?(\d+)$")
#: Shown next to every liveness option: the 68-point landmark model's training data licence.
LICENCE_NOTE = ("uses dlib's 68-point landmark model, trained on iBUG 300-W, whose licence excludes "
                "commercial use")


@dataclass(frozen=True)
class Parents:
    """The parent parsers a command's parser may inherit options from.

    Attributes:
        as_json: ``--json``.
        data: ``--json`` and ``--data-dir``.
        frames: ``--dark-threshold`` (commands that read frames).
    """

    as_json: argparse.ArgumentParser
    data: argparse.ArgumentParser
    frames: argparse.ArgumentParser


class InputError(ValueError):
    """A command-line input that cannot be used; the message is shown as is."""


def expand_inputs(inputs: Sequence[str], videos: bool = False) -> list[Path | int]:
    """Expand the inputs into what to read: files, a folder's images (in name order, 2 before 10), camera
    indices.

    Args:
        inputs: paths as typed; ``N`` or ``camera:N`` is camera N when no such file exists (with ``videos``).
        videos: accept video files and cameras too (``enroll``, ``verify``).

    Raises:
        InputError: a path does not exist, is not a regular file or folder, a folder holds no image, or a
            file is of a type not accepted.
    """
    from ..camera import not_a_source, path_kind

    items: list[Path | int] = []
    accepted = IMAGE_SUFFIXES + (VIDEO_SUFFIXES if videos else ())
    for raw in inputs:
        if not raw.strip():
            raise InputError("empty input name")
        path = Path(raw)
        camera = CAMERA_SPEC.match(raw)
        kind = path_kind(path)
        if videos and camera and kind == "no such file or folder":
            items.append(int(camera.group(1)))
        elif kind == "dir":
            found = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                           key=name_order)
            if not found:
                inside = sum(1 for p in path.iterdir() if p.is_dir())
                hint = f"; subfolders are not searched (it has {inside}): give them" if inside else ""
                raise InputError(f"{path}: folder holds no image ({', '.join(IMAGE_SUFFIXES)}){hint}")
            items.extend(found)
        elif kind == "file":
            if path.suffix.lower() not in accepted:
                kinds = "photo or video" if videos else "photo"
                raise InputError(f"{path}: not a {kinds} file (expected one of {', '.join(accepted)})")
            items.append(path)
        elif kind == "device" and videos:
            items.append(path)  # a camera by its device node, e.g. /dev/video2
        elif kind == "device":
            raise InputError(f"{path}: a device, not a photo")
        else:
            raise InputError(not_a_source(path, kind))
    return items


def plural(count: int, word: str) -> str:
    """``count`` and ``word``, with an s unless ``count`` is 1."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def emit(args: argparse.Namespace, payload: object, text: str) -> None:
    """Print ``payload`` as one line of JSON with ``--json``, else ``text`` (when not empty)."""
    if args.json:
        json.dump(payload, sys.stdout)
        print()
    elif text:
        print(text)


def error_object(args: argparse.Namespace | None, message: str) -> dict:
    """What ``--json`` prints for an error that ends a command (exit code 2): ``{"error": message}``."""
    return {"error": message}


def open_store(args: argparse.Namespace):
    """The profile store of ``--data-dir`` (default: $FACEID_HOME, else the user data directory).

    Raises:
        InputError: $FACEID_HOME names something that is not a directory (``--data-dir`` is checked by
            its argument type).
    """
    from ..storage import ProfileStore

    store = ProfileStore(args.data_dir)
    if args.data_dir is None and (store.root.exists() or store.root.is_symlink()) and not store.root.is_dir():
        raise InputError(f"FACEID_HOME={store.root} is not a directory")
    return store


def load_pipeline():
    """The detector and embedder (loads torch and the models: a second or more). Commands call it as
    ``common.load_pipeline()`` so that tests can replace it in one place."""
    from ..pipeline import default_pipeline

    return default_pipeline()


def is_stream(item: Path | int) -> bool:
    """Whether an input is read as a stream of frames: a camera (index or device node) or a video file."""
    from ..camera import is_camera

    return is_camera(item) or item.suffix.lower() in VIDEO_SUFFIXES


def input_name(item: Path | int) -> str:
    """An input as shown to the user: ``camera:N`` for a camera index, else the path."""
    return f"camera:{item}" if isinstance(item, int) else str(item)


#: Control characters (a newline in a file name, a terminal escape) shown escaped, so that every message
#: stays one line and cannot rewrite the terminal.
_ESCAPES = {code: repr(chr(code))[1:-1] for code in (*range(32), 127)}


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (``\\n``, ``\\x1b``, ...): one line, printable."""
    return text.translate(_ESCAPES)


def describe_error(error: BaseException) -> str:
    """An error in one line: an OSError as "FILE: reason" (once, when its message does not already say it)."""
    if isinstance(error, OSError) and error.filename and error.strerror and not str(error).startswith(str(error.filename)):
        return f"{error.filename}: {error.strerror}"
    return str(error)


# -- argument types (argparse turns ArgumentTypeError into its usage error, exit code 2) ---------------------

def _number(text: str, low: float, high: float, low_included: bool, expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")  # fails both comparisons below
    if not ((low <= value) if low_included else (low < value)) or not value <= high:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def percent(text: str) -> float:
    """A percentage from 0 to 100.

    Raises:
        argparse.ArgumentTypeError: not a number in that range.
    """
    return _number(text, 0.0, 100.0, True, "a percentage from 0 to 100")


def seconds(text: str, most: float = 600.0) -> float:
    """A duration in seconds, above 0 and at most ``most``.

    Raises:
        argparse.ArgumentTypeError: not a number in that range.
    """
    return _number(text, 0.0, most, False, f"seconds above 0, at most {most:g}")


