"""Reading photos from disk as 8-bit colour frames, with one clear error line for what cannot be read.

A file is checked before it is decoded, so damaged or hostile files fail fast and cheaply:

1. it must be a non-empty regular file;
2. Pillow reads its header only (``Image.open`` does not decode pixels) to learn the format and size, and
   an image of more than ``max_pixels`` pixels is refused before any pixel memory is allocated (a
   20000x20000 PNG of a few hundred KB would otherwise cost 1.2 GB once decoded);
3. a JPEG must be complete: its marker segments, walked from the start, must reach the end-of-image
   marker (EOI). OpenCV 4.x decodes a cut-short JPEG into a partly grey image with only a warning on
   stderr, and OpenCV 5 refuses it without saying why; checking the structure ourselves gives the same
   answer, and a clear message, whatever the OpenCV version. Bytes after the EOI are allowed (phones
   append previews or motion-photo videos there);
4. OpenCV decodes the pixels with ``IMREAD_COLOR``, which applies the EXIF orientation (so a phone photo
   comes out upright) and turns greyscale, palette, 16-bit and alpha images into 8-bit 3-channel ones:
   16-bit samples are scaled by 1/256 (65535 -> 255, not clipped);
5. an image with an alpha channel (PNG, WebP, TIFF) is laid over white, as viewers and browsers on a white
   page show it: what the user sees is what is read, and whatever colour a transparent area still stores
   (an old background, even another face) is not.

A PNG must be complete too: its chunks, walked by their lengths, must reach the ``IEND`` chunk. libpng
would refuse a cut-short PNG anyway, but it prints its own line on stderr first ("libpng error: Read
Error"), which the command line's one-line errors must not be mixed with.

Other truncated formats (WebP, TIFF, BMP, PGM/PPM) are refused by OpenCV's own decoders.
"""

from __future__ import annotations

import re
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from .formats import IMAGE_SUFFIXES  # noqa: F401  (re-exported)

#: File name endings read as photos.

#: Largest image read by default, in pixels (width x height): 40 MP, above the usual 12-24 MP phone photo
#: (36-72 MB once decoded to BGR; 40 MP is 120 MB). Pass more for 50-200 MP phone modes or 45-61 MP cameras.
DEFAULT_MAX_PIXELS = 40_000_000

_EOI = 0xD9

#: Leading bytes of the usual formats, to tell a damaged photo from a file that is no image at all.
_SIGNATURES = (
    (re.compile(rb"\xff\xd8\xff"), "JPEG"),
    (re.compile(rb"\x89PNG\r\n\x1a\n"), "PNG"),
    (re.compile(rb"RIFF....WEBP", re.DOTALL), "WebP"),
    (re.compile(rb"II\*\x00|MM\x00\*"), "TIFF"),
    (re.compile(rb"BM"), "BMP"),
)


class ImageError(ValueError):
    """A file that should be a photo cannot be read as one; the message is one line naming the file."""


def read_bgr(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 BGR array (OpenCV's channel order), upright.

    Args:
        path: the image file; any format OpenCV decodes and Pillow recognises (JPEG, PNG, BMP, WebP,
            TIFF, PGM/PPM, ...), whatever its name ends with.
        max_pixels: refuse images with more pixels than this (width x height, read from the header).

    Returns:
        A C-contiguous (H, W, 3) uint8 array; H and W after the EXIF orientation is applied.

    Raises:
        ImageError: the path is missing, a folder, unreadable or empty; the contents are not an image;
            the image is larger than ``max_pixels``; the file is truncated or damaged.
        ValueError: ``max_pixels`` is not positive.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as error:
        raise ImageError(f"{path}: cannot be read ({error.strerror or error})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path}: is a folder, not an image file")
    if not stat.S_ISREG(info.st_mode):
        # a FIFO or device would block or stream forever
        raise ImageError(f"{path}: not a regular file")
    if info.st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    try:
        with open(path, "rb") as f:
            image_format, (width, height) = _read_header(path, f, max_pixels)
            if width * height > max_pixels:
                raise ImageError(
                    f"{path}: image too large ({width}x{height} = {width * height:,} pixels; "
                    f"the limit is {max_pixels:,})"
                )
            f.seek(0)
            data = f.read()
    except OSError as error:
        raise ImageError(f"{path}: cannot be read ({error.strerror or error})") from None
    buffer = np.frombuffer(data, dtype=np.uint8)
    if image_format in ("JPEG", "MPO") and not _jpeg_reaches_eoi(buffer):
        raise ImageError(f"{path}: truncated JPEG (the file ends before the image does; an interrupted copy?)")
    if image_format == "PNG" and not _png_reaches_iend(data):
        raise ImageError(f"{path}: truncated PNG (the file ends before the image does; an interrupted copy?)")
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        variant = "" if image_format != "TIFF" else (
            ", or a kind of TIFF this app cannot read (such as 32-bit float samples); save it as an 8-bit JPEG or PNG")
        raise ImageError(f"{path}: damaged or truncated {image_format} image{variant}")
    if image_format in _ALPHA_FORMATS:
        image = _over_white(image, buffer)
    return image


#: Formats that may carry an alpha channel.
_ALPHA_FORMATS = ("PNG", "WEBP", "TIFF")


def _over_white(image: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """The (H, W, 3) uint8 BGR ``image`` laid over white by the alpha channel of the encoded ``buffer``, or
    ``image`` itself when there is none. IMREAD_COLOR drops alpha, so the file is decoded once more with
    IMREAD_UNCHANGED (which keeps alpha but ignores EXIF orientation: a rotated image, where the two do not
    line up, keeps its stored colours)."""
    try:
        raw = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return image
    if raw is None or raw.ndim != 3 or raw.shape[2] not in (2, 4) or raw.shape[:2] != image.shape[:2]:
        return image
    alpha = raw[..., -1:].astype(np.float32) / float(np.iinfo(raw.dtype).max if raw.dtype.kind in "ui" else 1.0)
    if (alpha >= 1).all():
        return image
    blended = image.astype(np.float32) * alpha + 255.0 * (1 - alpha)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def read_rgb(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 RGB array, upright; see :func:`read_bgr` for the checks.

    Raises:
        ImageError: as :func:`read_bgr`.
        ValueError: ``max_pixels`` is not positive.
    """
    return cv2.cvtColor(read_bgr(path, max_pixels), cv2.COLOR_BGR2RGB)


def _read_header(path: Path, f: BinaryIO, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """(format name, (width, height)) from the header of the open file ``f``, without decoding pixels."""
    try:
        with warnings.catch_warnings():
            # the caller judges the size against its own limit, in one line; Pillow's warning would add two
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(f) as image:
                return image.format or "unknown", image.size
    except Image.DecompressionBombError as error:
        # Pillow refuses headers above twice its own limit before we see the size; such an image is far
        # beyond any photo, so it is refused as too large whatever max_pixels says. Its message holds the size.
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)):,} pixels" if found else f"over {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels"
        raise ImageError(f"{path}: image too large ({size}; the limit is {max_pixels:,})") from None
    except OSError as error:
        if error.errno is not None and not isinstance(error, UnidentifiedImageError):
            raise  # the disk or file system failed, not the format: reported by the caller
        problem = error
    except Exception as error:  # noqa: BLE001 - plugins raise SyntaxError, struct.error, ... on bad headers
        problem = error
    f.seek(0)
    start = f.read(12)
    kind = next((name for magic, name in _SIGNATURES if magic.match(start)), None)
    unidentified = isinstance(problem, UnidentifiedImageError)
    if kind is None and unidentified:
        raise ImageError(f"{path}: not an image (contents not recognised as JPEG, PNG, BMP, WebP, TIFF, ...)")
    if unidentified and kind == "TIFF":
        # a TIFF signature that no plugin takes: damaged, or a variant Pillow does not know (three 32-bit
        # float samples per pixel, as scientific tools write)
        raise ImageError(f"{path}: damaged TIFF file, or a kind of TIFF this app cannot read (such as 32-bit "
                         f"float samples); save it as an 8-bit JPEG or PNG")
    # Pillow's own message only helps when a format plugin accepted the file and then failed
    detail = "" if unidentified else ": " + (str(problem).splitlines() or [type(problem).__name__])[0]
    raise ImageError(f"{path}: damaged or truncated {kind or 'image'} file (unreadable header{detail})")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_reaches_iend(data: bytes) -> bool:
    """True when the PNG's chunks (4-byte big-endian length, 4-byte type, data, 4-byte CRC), walked from
    the signature, reach an ``IEND`` chunk that fits in the file. Costs one step per chunk."""
    pos, n = len(_PNG_SIGNATURE), len(data)
    if not data.startswith(_PNG_SIGNATURE):
        return False
    while pos + 8 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > n:
            return False
        if kind == b"IEND":
            return True
        pos = end
    return False


def _jpeg_reaches_eoi(data: np.ndarray) -> bool:
    """True when the JPEG's marker segments, walked from the start, reach an EOI marker.

    ``data`` is the whole file as a 1-D uint8 array. Length-prefixed segments (APPn, DQT, SOF, DHT, SOS
    headers, ...) are jumped over, so an EOI inside an embedded EXIF thumbnail is not mistaken for the
    image's end; after a scan header the entropy-coded data is searched for the next marker. Costs one
    vectorised pass over the bytes (about 1 ms per MB).
    """
    n = data.size
    if n < 4:
        return False
    ff = np.flatnonzero(data[:-1] == 0xFF)
    following = data[ff + 1]
    # 0xFF00 is a stuffed data byte, 0xFFD0-0xFFD7 restart markers inside a scan, 0xFFFF fill before a
    # marker: none of them ends a scan, so only the remaining positions can start the next segment
    is_marker = (following != 0x00) & (following != 0xFF) & ((following < 0xD0) | (following > 0xD7))
    markers = ff[is_marker]
    pos = 2  # after SOI
    while True:
        k = int(np.searchsorted(markers, pos))
        if k == markers.size:
            return False
        pos = int(markers[k])
        code = int(data[pos + 1])
        if code == _EOI:
            return True
        if code in (0x01, 0xD8):  # TEM, SOI: no length field
            pos += 2
            continue
        if pos + 4 > n:
            return False
        end = pos + 2 + (int(data[pos + 2]) << 8 | int(data[pos + 3]))
        if end > n:
            return False
        pos = end


__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "ImageError", "read_bgr", "read_rgb"]
