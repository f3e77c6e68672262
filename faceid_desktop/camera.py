"""Frame sources: a webcam, a video file or a folder of photos, read as one stream of BGR frames.

:func:`open_source` picks the source from a single spec (a camera index, a video path or a folder path)
and returns a :class:`FrameSource`, an iterator of :class:`Frame` that is also a context manager. All
three kinds behave the same way, so the unlock loop, enrolment and tests can run on recorded media as on
a live camera.

Unlit frames are marked, never skipped: every frame reaches the caller, whose timeout is checked on
every frame (a camera that only sends dark frames must not hang an unlock), and whose detector judges the
face itself; darkness is only the reason given for a frame in which no face was found. The measure is
Howdy's (github.com/boltgolt/howdy, ``howdy/src/compare.py``; option ``dark_threshold`` in ``[video]`` of
its ``config.ini``, default 60): the frame is turned grey and contrast-equalised with CLAHE (clip limit 2,
8x8 tiles), and :attr:`Frame.dark` is set when the darkest eighth of grey levels (0-31) holds more than
``dark_threshold`` percent of the pixels. Howdy skips such frames before detection; that throws away the
frames of an IR camera in a dark room, whose face is lit but whose background is black, so here the
detector sees them. It costs about 0.6-1.8 ms per 640x480 frame, mostly CLAHE.

``wall_timeout`` (seconds, :func:`open_source`) ends the iteration when that much wall-clock time has passed
since the source was opened, checked before every frame.

No Qt and no module state: every source owns its capture, and sources are independent. A source is not
thread-safe; iterate and close it from one thread.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, ImageError, read_bgr
from .formats import VIDEO_SUFFIXES, name_order  # noqa: F401  (VIDEO_SUFFIXES re-exported)

#: File name endings opened as videos.

#: Howdy's default ``dark_threshold``: percent of pixels in the darkest eighth above which a frame is dark.
DEFAULT_DARK_THRESHOLD = 60.0
#: Frames per second a folder of images plays at as a live camera (a live check, the app): a webcam's usual
#: rate (at :func:`open_source`'s default of 10 the liveness check would find the "camera" too slow to see a
#: blink and ask for head turns).
LIVE_FOLDER_FPS = 30.0
#: Highest camera index: OpenCV reads an index of 100 or more as a backend number plus a camera, and a huge
#: one makes it print pages of errors. Other devices are opened by their path (``/dev/video120``).
MAX_CAMERA_INDEX = 99

_CAMERA_SPEC = re.compile(r"(?:camera:)?(\d+)", re.ASCII)


class SourceError(OSError):
    """A frame source cannot be opened or stopped working; the message is one line meant for the user."""


@dataclass(frozen=True)
class Frame:
    """One frame of a source.

    Attributes:
        image: (H, W, 3) uint8 BGR, as OpenCV delivers it.
        timestamp: seconds; a video's position in the stream, the time since a camera was opened
            (monotonic clock), or ``index / fps`` for an image folder.
        index: the frame's number in its source from 0, counting unreadable folder images.
        source: ``"camera:N"``, the video's path, or the path of the folder's image file.
        dark: the whole frame is unlit (see the module docstring); a reason to give when no face is found,
            not a reason to skip the frame.
    """

    image: np.ndarray
    timestamp: float
    index: int
    source: str
    dark: bool = False


def darkness(image: np.ndarray, clahe: cv2.CLAHE | None = None) -> float:
    """Percentage (0-100) of pixels in the darkest eighth of grey levels (0-31) after CLAHE, as Howdy measures.

    Args:
        image: (H, W, 3) uint8 BGR, or (H, W) uint8 grey.
        clahe: a ``cv2.createCLAHE(2.0, (8, 8))`` object to reuse; a new one when None.

    Raises:
        ValueError: the image is not uint8, or not (H, W) or (H, W, 3).
    """
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"expected an (H, W) or (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if image.size == 0:
        return 100.0
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    grey = (clahe or _new_clahe()).apply(grey)
    # levels 0-31 are the first of Howdy's 8 calcHist bins; counting them directly costs far less
    return 100.0 * np.count_nonzero(grey < 32) / grey.size


def _new_clahe() -> cv2.CLAHE:
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))


class FrameSource:
    """An iterator of :class:`Frame` over a camera, a video or an image folder; made by :func:`open_source`.

    Use it as a context manager, or call :meth:`close`, to release the camera or video file. Iterating
    marks unlit frames (:attr:`Frame.dark`) and skips, in a folder, unreadable images.

    Attributes:
        kind: ``"camera"``, ``"video"`` or ``"folder"``.
        name: ``"camera:N"``, or the video's or folder's path.
        fps: nominal frames per second: the camera's or video's reported rate (the ``fps`` argument of
            :func:`open_source` when it reports none), or the ``fps`` argument for a folder.
        dark_threshold: the darkness percentage above which frames are marked dark; 100 disables the check.
        dark_frames: frames marked dark so far.
        read_errors: folder images skipped so far as unreadable (always 0 for a camera or video).
        errors: one line per unreadable folder image, naming the file.
        wall_timeout: seconds of wall-clock time after the open at which iteration ends; None: no limit.
        timed_out: True once iteration ended because ``wall_timeout`` passed.
    """

    def __init__(self, kind: str, name: str, fps: float, dark_threshold: float) -> None:
        self.kind = kind
        self.name = name
        self.fps = fps
        self.dark_threshold = dark_threshold
        self.dark_frames = 0
        self.read_errors = 0
        self.errors: list[str] = []
        self.wall_timeout: float | None = None
        self.timed_out = False
        self._opened = time.monotonic()
        self._closed = False
        self._clahe = _new_clahe() if dark_threshold < 100 else None

    def _read(self) -> Frame | None:
        """The next frame before the dark check, or None at the end of the source."""
        raise NotImplementedError

    def _release(self) -> None:
        pass

    def __iter__(self) -> FrameSource:
        return self

    def __next__(self) -> Frame:
        """The next frame, marked dark or not.

        Raises:
            StopIteration: the video or folder ended, ``wall_timeout`` passed, or the source is closed.
            SourceError: a camera stopped delivering frames.
        """
        if not self._closed and self.wall_timeout is not None and time.monotonic() - self._opened > self.wall_timeout:
            self.timed_out = True
            self.close()
        if self._closed:
            raise StopIteration
        frame = self._read()
        if frame is None:
            self.close()
            raise StopIteration
        if self._clahe is not None and darkness(frame.image, self._clahe) > self.dark_threshold:
            self.dark_frames += 1
            frame = Frame(frame.image, frame.timestamp, frame.index, frame.source, True)
        return frame

    def close(self) -> None:
        """Release the camera or video file; iteration then ends. Closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._release()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called or the source ended."""
        return self._closed

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<FrameSource {self.kind} {self.name!r} {state}>"


def _as_bgr(image: np.ndarray) -> np.ndarray:
    # some IR cameras and codecs deliver grey or BGRA frames despite OpenCV's default RGB conversion
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _reported_fps(capture: cv2.VideoCapture, fallback: float) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if math.isfinite(fps) and 0 < fps < 1000 else fallback


class _CaptureSource(FrameSource):
    """A camera or video read through ``cv2.VideoCapture``; the first frame is read at open to fail early."""

    def __init__(self, kind: str, name: str, capture: cv2.VideoCapture, fps: float, dark_threshold: float) -> None:
        super().__init__(kind, name, _reported_fps(capture, fps), dark_threshold)
        self._capture = capture
        self._index = 0
        self._pending: np.ndarray | None = None

    def _grab(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return _as_bgr(image) if ok and image is not None and image.size else None

    def _check_first(self, image: np.ndarray | None, max_pixels: int, no_frame: str) -> None:
        if image is None:
            self.close()
            raise SourceError(no_frame)
        height, width = image.shape[:2]
        if width * height > max_pixels:
            self.close()
            raise SourceError(f"{self.name}: frames too large ({width}x{height}; the limit is {max_pixels:,} pixels)")
        self._pending = image

    def _next_image(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        return self._grab()

    def _release(self) -> None:
        self._pending = None
        self._capture.release()


class _CameraSource(_CaptureSource):
    def __init__(self, index: int | Path, fps: float, dark_threshold: float, max_pixels: int) -> None:
        if isinstance(index, Path):  # a device node, e.g. /dev/video2
            if not os.access(index, os.R_OK | os.W_OK):
                raise SourceError(f"camera {index} exists but cannot be opened: permission denied "
                                  "(is your account in the video group?)")
            capture = cv2.VideoCapture(str(index))
            name = str(index)
        else:
            capture = cv2.VideoCapture(index)
            name = f"camera:{index}"
        if not capture.isOpened():
            capture.release()
            what = ("exists but could not be opened (used by another program, or not a capture device?)"
                    if isinstance(index, Path) else "could not be opened (is it connected, or used by another program?)")
            raise SourceError(f"camera {index} {what}")
        super().__init__("camera", name, capture, fps, dark_threshold)
        self._camera = index
        self._opened_at = time.monotonic()
        self._check_first(
            self._grab(), max_pixels, f"camera {index} opened but delivered no frame (is it used by another program?)"
        )
        self._first_at = time.monotonic() - self._opened_at

    def _read(self) -> Frame | None:
        pending = self._pending is not None
        image = self._next_image()
        if image is None:
            index = self._camera
            self.close()
            # a camera has no end: a failed read means it was unplugged or taken, which must not look
            # like a stream that finished normally
            raise SourceError(
                f"camera {index} stopped delivering frames after {self._index} frames (was it unplugged?)"
            )
        timestamp = self._first_at if pending else time.monotonic() - self._opened_at
        frame = Frame(image, timestamp, self._index, self.name)
        self._index += 1
        return frame


class _VideoSource(_CaptureSource):
    def __init__(self, path: Path, fps: float, dark_threshold: float, max_pixels: int) -> None:
        # FFmpeg first: the default backend order would let the image-sequence reader treat a "%" in the
        # file name as a pattern
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{path}: not a readable video (damaged, or a format OpenCV cannot decode)")
        super().__init__("video", str(path), capture, fps, dark_threshold)
        self._check_first(self._grab(), max_pixels, f"{path}: video holds no readable frame")
        self._first_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)

    def _read(self) -> Frame | None:
        pending = self._pending is not None
        image = self._next_image()
        if image is None:
            return None
        position_ms = self._first_ms if pending else self._capture.get(cv2.CAP_PROP_POS_MSEC)
        # containers without timestamps report 0 (or less) for every frame: fall back to the nominal rate
        if self._index > 0 and not position_ms > 0:
            timestamp = self._index / self.fps
        else:
            timestamp = max(position_ms, 0.0) / 1000.0
        frame = Frame(image, timestamp, self._index, self.name)
        self._index += 1
        return frame


class _FolderSource(FrameSource):
    def __init__(self, folder: Path, fps: float, dark_threshold: float, max_pixels: int) -> None:
        try:
            files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                           key=name_order)
        except OSError as error:
            raise SourceError(f"folder {folder} cannot be listed ({error.strerror or error})") from None
        if not files:
            raise SourceError(f"folder {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        super().__init__("folder", str(folder), fps, dark_threshold)
        self._files = files
        self._max_pixels = max_pixels
        self._index = 0

    def _read(self) -> Frame | None:
        while self._index < len(self._files):
            index, path = self._index, self._files[self._index]
            self._index += 1
            try:
                image = read_bgr(path, self._max_pixels)
            except ImageError as error:
                self.read_errors += 1
                self.errors.append(str(error))
                continue
            return Frame(image, index / self.fps, index, str(path))
        return None


def open_source(
    spec: str | int | Path,
    *,
    dark_threshold: float = DEFAULT_DARK_THRESHOLD,
    fps: float = 10.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    wall_timeout: float | None = None,
) -> FrameSource:
    """Open a camera, a video file or an image folder as a :class:`FrameSource`.

    Args:
        spec: an int or a string of digits (optionally ``"camera:N"``): that camera index; a
            :class:`~pathlib.Path` or other string: an existing folder is read as an image folder (files
            ending with one of ``IMAGE_SUFFIXES``, sorted by name), an existing file ending with one of
            :data:`VIDEO_SUFFIXES` as a video, a character device (``/dev/video2``) as a camera.
        dark_threshold: percent (0-100); frames whose darkest grey-level eighth holds more of the pixels
            are marked dark (Howdy's default 60); 100 disables the check.
        fps: frames per second for a folder's timestamps, and for a video or camera that reports no rate.
        max_pixels: largest frame accepted, in pixels; a bigger folder image is skipped as unreadable, a
            bigger video or camera frame refused at open.
        wall_timeout: seconds of wall-clock time from now after which iteration ends (checked before every
            frame; :attr:`FrameSource.timed_out` tells); None: no limit.

    Returns:
        An open source; a camera or video has already read its first frame (to fail here rather than
        in the loop), a folder reads each image when it is reached.

    Raises:
        SourceError: an empty name; the camera cannot be opened or delivers no frame, or its index is above
            :data:`MAX_CAMERA_INDEX`; the path does not exist, is a symlink loop, is neither a video, a
            folder nor a device, is a folder without images, or is a video OpenCV cannot read.
        ValueError: ``dark_threshold``, ``fps``, ``max_pixels`` or ``wall_timeout`` out of range, or a
            negative camera index.
        TypeError: ``spec`` is of another type.
    """
    if wall_timeout is not None and not (math.isfinite(wall_timeout) and wall_timeout > 0):
        raise ValueError(f"wall_timeout must be positive seconds, got {wall_timeout}")
    started = time.monotonic()
    source = _open(spec, dark_threshold, fps, max_pixels)
    source.wall_timeout, source._opened = wall_timeout, started  # opening a camera is part of the time
    return source


def _open(spec: str | int | Path, dark_threshold: float, fps: float, max_pixels: int) -> FrameSource:
    if not 0 <= dark_threshold <= 100:
        raise ValueError(f"dark_threshold must be a percentage in [0, 100], got {dark_threshold}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    kind, target = check_source(spec)
    opener = {"camera": _CameraSource, "video": _VideoSource, "folder": _FolderSource}[kind]
    return opener(target, fps, dark_threshold, max_pixels)


def check_source(spec: str | int | Path) -> tuple[str, int | Path]:
    """What ``spec`` (as :func:`open_source` takes it) names, checked without opening it: a camera index
    in range, a device, a folder, or a video file that can be read.

    Returns:
        (``camera``, index or device path), (``video``, path) or (``folder``, path).

    Raises:
        SourceError: an empty name, a camera index above :data:`MAX_CAMERA_INDEX`, a path that does not
            exist or is neither a folder, a device nor a video file, or a video file that cannot be read.
        ValueError: a negative camera index.
        TypeError: ``spec`` is of another type.
    """
    if isinstance(spec, bool) or not isinstance(spec, (str, int, Path)):
        raise TypeError(f"a source is a camera index, a video path or a folder path, not {type(spec).__name__}")
    if isinstance(spec, str) and not spec.strip():
        raise SourceError("empty camera name: give a camera index (0), a device, a video file or a folder")
    if isinstance(spec, str) and (index := camera_index(spec)) is not None:
        spec = index
    if isinstance(spec, int):
        if spec < 0:
            raise ValueError(f"a camera index is 0 or more, got {spec}")
        if spec > MAX_CAMERA_INDEX:
            raise SourceError(f"camera index {spec} is out of range (0-{MAX_CAMERA_INDEX}; "
                              "give a device by its path, e.g. /dev/video120)")
        return "camera", spec
    path = Path(spec)
    kind = path_kind(path)
    if kind == "dir":
        return "folder", path
    if kind == "device":
        return "camera", path
    if kind == "file" and path.suffix.lower() in VIDEO_SUFFIXES:
        _check_readable(path)
        return "video", path
    if kind == "file":
        raise SourceError(f"{path}: not a video file or image folder (videos: {', '.join(VIDEO_SUFFIXES)})")
    raise SourceError(not_a_source(path, kind))


def _check_readable(path: Path) -> None:
    # OpenCV reports a file it may not read as it does a damaged one; opening it first says which it is.
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise SourceError(f"{path}: cannot be read ({error.strerror or error})") from None


def camera_index(spec: object) -> int | None:
    """The camera index of a spec (``0``, ``"0"``, ``"camera:0"``), or None for a file, folder or device path
    (and for a negative int)."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        return spec if spec >= 0 else None
    match = _CAMERA_SPEC.fullmatch(str(spec).strip())
    return int(match.group(1)) if match else None


def is_camera(spec: object) -> bool:
    """Whether ``spec`` (an input as :func:`open_source` takes it) names a camera: an index, ``camera:N``,
    or a character device such as ``/dev/video2``."""
    if isinstance(spec, bool):
        return False
    if isinstance(spec, int):
        return True
    if isinstance(spec, str) and camera_index(spec) is not None:
        return True
    return isinstance(spec, (str, Path)) and path_kind(Path(spec)) == "device"


def not_a_source(path: Path, kind: str) -> str:
    """The one-line problem of an input that is no usable file, folder or device (``kind``, from
    :func:`path_kind`), saying what a camera is when the text was meant as one (``camera:x``, ``-1``)."""
    if kind.startswith("no such file") and re.fullmatch(r"camera:.*|-\d+", str(path)):
        return f"{path}: {kind}, nor a camera (a camera is 0 to {MAX_CAMERA_INDEX}, or camera:N)"
    return f"{path}: {kind}"


def path_kind(path: Path) -> str:
    """What ``path`` is, following symlinks: ``file``, ``dir``, ``device`` (a character device, e.g. a
    camera), or else a one-line description of the problem (``no such file or folder``, ``symbolic link
    loop``, ``not a regular file, folder or device``, ``cannot be read (Permission denied)``)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "no such file or folder"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop (a link that points back to itself)"
        if error.errno == errno.ENOTDIR:
            return "no such file or folder (a part of the path is not a folder)"
        return f"cannot be read ({error.strerror or error})"
    if stat.S_ISREG(info.st_mode):
        return "file"
    if stat.S_ISDIR(info.st_mode):
        return "dir"
    if stat.S_ISCHR(info.st_mode):
        return "device"
    return "not a regular file, folder or device"


__all__ = [
    "DEFAULT_DARK_THRESHOLD",
    "MAX_CAMERA_INDEX",
    "VIDEO_SUFFIXES",
    "Frame",
    "FrameSource",
    "SourceError",
    "check_source",
    "darkness",
    "is_camera",
    "not_a_source",
    "open_source",
    "path_kind",
]
