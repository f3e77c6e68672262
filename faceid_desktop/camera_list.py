"""Which cameras this computer has, and camera specs as they should be remembered (pure: no Qt).

:func:`list_devices` probes camera indexes 0-9 (on Linux only those with a ``/dev/videoN`` node), reads one
frame from each to tell a working camera from a metadata node or a busy one, names it from
``/sys/class/video4linux/videoN/name`` where the OS gives a name, and notes whether its frames are grey (an
infrared camera, as Windows Hello and Howdy use). :func:`absolute_spec` turns a relative file or folder given
with ``--camera`` into an absolute path, so that starting the app from another folder finds it again.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .camera import camera_index

#: Camera indexes probed.
MAX_DEVICES = 10
#: Where Linux names its video devices.
SYS_VIDEO = Path("/sys/class/video4linux")

@dataclass(frozen=True)
class CameraDevice:
    """A camera device found by :func:`list_devices`.

    Attributes:
        index: the OpenCV camera index (the ``--camera`` spec).
        name: the device's name as the OS gives it, else ``camera N``.
        works: it opened and delivered a frame.
        grey: its frames are grey (an infrared camera); False when unknown.
        size: (width, height) of its first frame, or None.
        problem: why it does not work ('' when it works).
    """

    index: int
    name: str
    works: bool
    grey: bool = False
    size: tuple[int, int] | None = None
    problem: str = ""

    @property
    def spec(self) -> str:
        """The camera spec to open it with (``"0"``)."""
        return str(self.index)

    def label(self) -> str:
        """One line for a menu: ``camera 0: Integrated Camera (infrared, 640x400)``."""
        details = [text for text in ("infrared" if self.grey else "",
                                     f"{self.size[0]}x{self.size[1]}" if self.size else "",
                                     self.problem) if text]
        named = "" if self.name == f"camera {self.index}" else f": {self.name}"
        return f"camera {self.index}{named}" + (f" ({', '.join(details)})" if details else "")


def absolute_spec(spec: Any, cwd: Path | None = None) -> str:
    """``spec`` as it should be stored: a camera index as its digits, a file or folder as an absolute path
    (``~`` expanded, relative to ``cwd`` or the current folder; symbolic links kept).

    Raises:
        ValueError: an empty spec.
    """
    text = str(spec).strip()
    if not text:
        raise ValueError("empty camera spec")
    index = camera_index(text)
    if index is not None:
        return str(index)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (cwd if cwd is not None else Path.cwd()) / path
    # normpath drops "a/../" without resolving links (a link to a clip should stay the link)
    return os.path.normpath(str(path))


def device_name(index: int, root: Path = SYS_VIDEO) -> str | None:
    """The OS's name of video device ``index`` (Linux sysfs), or None where it gives none."""
    try:
        text = (root / f"video{index}" / "name").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    text = " ".join(text.split())
    return text or None


def candidate_indexes(limit: int = MAX_DEVICES, dev: Path = Path("/dev"), platform: str | None = None) -> list[int]:
    """Indexes worth probing: on Linux those of the ``/dev/videoN`` nodes below ``limit``; elsewhere all."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("linux"):
        return [i for i in range(limit) if (dev / f"video{i}").exists()]
    return list(range(limit))


def is_grey(image: np.ndarray) -> bool:
    """True when a frame carries no colour: one channel, or three equal ones (an infrared camera's frames,
    which OpenCV delivers as BGR with equal channels). Sampled on a grid, so it costs microseconds."""
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return True
    if image.ndim != 3 or image.shape[2] < 3 or image.size == 0:
        return False
    step = max(1, min(image.shape[:2]) // 32)
    sample = image[::step, ::step, :3].astype(np.int16)
    return bool(np.abs(sample[..., 0] - sample[..., 1]).max() <= 2 and np.abs(sample[..., 1] - sample[..., 2]).max() <= 2)


def _open_capture(index: int):
    import cv2

    return cv2.VideoCapture(index)


def probe(index: int, open_capture: Callable[[int], Any] | None = None, root: Path = SYS_VIDEO,
          reads: int = 5) -> CameraDevice:
    """Open camera ``index``, read up to ``reads`` frames (some cameras deliver nothing at first), close it.

    Args:
        open_capture: makes a ``cv2.VideoCapture``-like object (``isOpened``, ``read``, ``release``); tests
            pass a fake so that no real device is opened.
    """
    name = device_name(index, root) or f"camera {index}"
    capture = (open_capture or _open_capture)(index)
    try:
        if not capture.isOpened():
            return CameraDevice(index, name, False, problem="cannot be opened")
        for _ in range(max(1, reads)):
            ok, image = capture.read()
            if ok and image is not None and getattr(image, "size", 0):
                image = np.asarray(image)
                return CameraDevice(index, name, True, is_grey(image), (int(image.shape[1]), int(image.shape[0])))
        return CameraDevice(index, name, False, problem="no frame")
    except Exception as error:  # a driver error is a camera that does not work, not a crash of the listing
        return CameraDevice(index, name, False, problem=f"{type(error).__name__}: {error}")
    finally:
        try:
            capture.release()
        except Exception:
            pass


def list_devices(indexes: Iterable[int] | None = None, open_capture: Callable[[int], Any] | None = None,
                 root: Path = SYS_VIDEO, skip: Iterable[int] = ()) -> list[CameraDevice]:
    """Every camera device that opens, working ones first (in index order).

    Args:
        indexes: the indexes to probe (default :func:`candidate_indexes`).
        open_capture: see :func:`probe`.
        skip: indexes not to open (the camera the app is reading: a second open may fail while it is busy);
            they are listed as working.
    """
    skip = set(skip)
    found = []
    for index in (candidate_indexes() if indexes is None else indexes):
        if index in skip:
            found.append(CameraDevice(index, device_name(index, root) or f"camera {index}", True))
            continue
        device = probe(index, open_capture, root)
        if device.works or device.problem != "cannot be opened":
            found.append(device)
    return sorted(found, key=lambda d: (not d.works, d.index))


def preferred_camera(devices: Iterable[CameraDevice]) -> CameraDevice | None:
    """The camera to fall back to when the one asked for does not work: the first working colour camera,
    else the first working one (an infrared camera alone works as well)."""
    working = [d for d in devices if d.works]
    colour = [d for d in working if not d.grey]
    return (colour or working or [None])[0]
