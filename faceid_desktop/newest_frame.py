"""The newest frame of a live source, read on a thread of its own.

Recognition can be slower than the camera (SFace alone takes about 27 ms per frame on one AVX2 laptop core,
more on a busy machine), and a camera read in the same loop then delivers frames at recognition's pace. The
liveness check must see the lids move at the camera's own rate (a blink is only judged at 19 frames/s or
more, :attr:`~faceid_desktop.liveness.LivenessCheck.too_slow_for_blinks`), so the source is read on its own
thread into a :class:`LatestFrame`; recognition takes the newest frame and hands the ones it skipped to the
liveness check (:meth:`~faceid_desktop.liveness.LiveUnlock.observe`). The app's camera thread
(``gui.camera_worker``) and ``faceid auth`` / ``verify --live`` on a camera (:class:`NewestFrames`) do so.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from typing import Iterator

from .camera import Frame, FrameSource

#: Frames the slot keeps besides the newest (1.6 s at 30 frames/s), for the liveness check of frames the
#: processing thread skipped; at 640x480 they hold about 44 MB.
RECENT_FRAMES = 48

#: Seconds :meth:`NewestFrames.__exit__` waits for the reading thread: a camera read returns within a frame
#: interval; one that hangs longer is left to end with the process (the thread is a daemon).
JOIN_SECONDS = 2.0


class LatestFrame:
    """A thread-safe slot holding the newest frame (and a sequence number to tell new from seen), and the
    last :data:`RECENT_FRAMES` frames for :meth:`between`."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._sequence = 0
        self._recent: deque[Frame] = deque(maxlen=RECENT_FRAMES)

    def put(self, frame: Frame) -> None:
        """Replace the frame held (the older one is only kept among the recent frames)."""
        with self._condition:
            self._frame = frame
            self._sequence += 1
            self._recent.append(frame)
            self._condition.notify_all()

    def between(self, after: float, before: float) -> list[Frame]:
        """The recent frames with ``after < timestamp < before`` (seconds), oldest first: the frames the
        processing thread skipped between two it processed."""
        with self._condition:
            return [f for f in self._recent if after < f.timestamp < before]

    def newer_than(self, sequence: int, timeout: float) -> tuple[int, Frame] | None:
        """The newest frame if it is newer than ``sequence``, waiting up to ``timeout`` seconds; else None."""
        with self._condition:
            if self._sequence <= sequence:
                self._condition.wait(timeout)
            if self._sequence > sequence and self._frame is not None:
                return self._sequence, self._frame
            return None

    def wake(self) -> None:
        """Return every :meth:`newer_than` waiting now (the source ended: no frame will come)."""
        with self._condition:
            self._condition.notify_all()

    def clear(self) -> None:
        """Forget the frames held."""
        with self._condition:
            self._frame = None
            self._recent.clear()


class NewestFrames:
    """Read a live source on its own thread; iterate over (newest frame, frames skipped since the previous
    one, oldest first). Every frame the source delivers is either yielded or among the next one's skipped
    frames (as long as fewer than :data:`RECENT_FRAMES` pile up). Use it as a context manager: leaving it
    stops the reading thread.

    Args:
        source: an open frame source; its own ``wall_timeout`` ends the iteration.

    Raises (while iterating):
        faceid_desktop.camera.SourceError: the source failed (a camera unplugged), after the frames read
            before the failure.
    """

    def __init__(self, source: FrameSource) -> None:
        self._source = source
        self._slot = LatestFrame()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="faceid-camera", daemon=True)

    def __enter__(self) -> NewestFrames:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(JOIN_SECONDS)

    def _read(self) -> None:
        try:
            for frame in self._source:
                self._slot.put(frame)
                if self._stop.is_set():
                    break
        except Exception as error:  # handed to the iterating thread, which raises it
            self._error = error
        finally:
            self._done.set()
            self._slot.wake()

    def __iter__(self) -> Iterator[tuple[Frame, list[Frame]]]:
        sequence, last = 0, None
        while True:
            finished = self._done.is_set()  # read before looking: a frame put before the end is still seen
            got = self._slot.newer_than(sequence, 0.0 if finished else 0.5)
            if got is None:
                if finished:
                    if self._error is not None:
                        raise self._error
                    return
                continue
            sequence, frame = got
            skipped = [] if last is None else self._slot.between(last, frame.timestamp)
            last = frame.timestamp
            yield frame, skipped


@contextlib.contextmanager
def live_frames(source: FrameSource) -> Iterator[Iterator[tuple[Frame, list[Frame]]]]:
    """(frame, skipped frames) for a live attempt on ``source``: a camera through :class:`NewestFrames`
    (recognition takes the newest frame, liveness also sees the skipped ones); a video or folder frame by
    frame with nothing skipped, so that a recorded clip decides the same on a fast or a slow machine."""
    if source.kind != "camera":
        yield ((frame, []) for frame in source)
        return
    with NewestFrames(source) as frames:
        yield iter(frames)
