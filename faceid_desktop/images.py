"""Reading photos from disk as RGB frames, with clear errors for what cannot be read."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

#: File name endings read as photos.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")


class ImageError(ValueError):
    """A file that should be a photo cannot be read as one; the message names the file."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 RGB array.

    OpenCV's ``IMREAD_COLOR`` turns greyscale, 16-bit and RGBA files into 8-bit colour and applies the EXIF
    orientation, so a phone photo comes out upright.

    Raises:
        ImageError: the path is missing, not a file, or not a decodable image.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if not path.is_file():
        raise ImageError(f"{path}: not a file")
    data = np.fromfile(path, dtype=np.uint8)  # unlike cv2.imread, copes with any file name encoding
    if data.size == 0:
        raise ImageError(f"{path}: empty file")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{path}: not a readable image (damaged, truncated or of an unknown format)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
