"""File types FaceID Desktop reads, by name ending (lower case), and the order of a folder's files. No heavy
imports, so the CLI starts fast."""

import re
from pathlib import Path

#: Photos (decoded by OpenCV, sized by Pillow first).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
#: Videos (decoded by OpenCV's FFmpeg backend).
VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mov", ".mkv")


def name_order(path: Path) -> tuple:
    """Sort key of a folder's files as a person counts them: ``frame_2`` before ``frame_10`` (a folder of
    frames plays as a camera in this order; as plain text, ``frame_10`` came before ``frame_2``), and
    ``obama.jpg`` before ``obama1.jpg`` (the name without its suffix is compared first)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.stem)), path.name
