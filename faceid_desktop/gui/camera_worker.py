"""Frames from the core's frame source to the screens, off the GUI thread.

Two worker threads, joined by a one-frame slot (the core's :class:`~faceid_desktop.newest_frame.LatestFrame`):

* :class:`CameraThread` reads the source (camera, video or image folder; files are paced at their own rate
  and loop, so a recorded clip plays like a camera), puts every frame into the slot, and sends frames to the
  preview only when the GUI has drawn the previous one (older frames are dropped, never queued);
* :class:`ProcessorThread` loads the face pipeline, then repeatedly takes the newest frame from the slot and
  runs the active screen's task on it (detection, embedding); frames that arrive meanwhile are dropped.

:class:`CameraHub` owns both and is what the screens use: its signals deliver preview frames, analysis
results and one-line error messages; :meth:`CameraHub.restart` retries after an error.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from ..camera import LIVE_FOLDER_FPS, Frame, FrameSource, SourceError, camera_index, open_source
from ..landmarks68 import Landmarks68
from ..newest_frame import LatestFrame
from ..pipeline import FacePipeline

#: A task run on the newest frame in the processing thread: (pipeline, frame) -> result.
Task = Callable[[FacePipeline, Frame], Any]
SourceFactory = Callable[[Any], FrameSource]


class SharedLandmarks:
    """The 68-point landmark model liveness needs, loaded once per hub (about a second) on first use, i.e.
    in the processing thread, and shared by every unlock attempt.

    Args:
        factory: loads the model (default :class:`~faceid_desktop.landmarks68.Landmarks68`); for tests.
    """

    def __init__(self, factory: Callable[[], Landmarks68] | None = None) -> None:
        self._factory = factory or Landmarks68
        self._model: Landmarks68 | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Landmarks68:
        """The model (loading it the first time)."""
        with self._lock:
            if self._model is None:
                self._model = self._factory()
            return self._model


def source_name(spec: Any) -> str:
    """A camera spec as the audit log records it: ``camera:0``, or the file or folder path."""
    index = camera_index(spec)
    return f"camera:{index}" if index is not None else str(spec)


def describe_spec(spec: Any) -> str:
    """A camera spec as the user reads it: ``camera 0``, or the file or folder name."""
    index = camera_index(spec)
    if index is not None:
        return f"camera {index}"
    return Path(str(spec)).name or str(spec)


class CameraThread(QThread):
    """Reads a frame source into a :class:`LatestFrame` slot and offers frames to the preview.

    Args:
        spec: a camera index, a video path or an image folder (see :func:`faceid_desktop.camera.open_source`).
        slot: where every frame goes for processing.
        loop: replay a video or folder from the start when it ends (timestamps keep growing); else stop.
        speed: playback speed of files (1.0: real time); cameras are read as fast as they deliver.
        folder_fps: frames per second of an image folder.
        source_factory: opens the source (default :func:`~faceid_desktop.camera.open_source`); for tests.

    Signals:
        frame(object): a :class:`~faceid_desktop.camera.Frame` for the preview; the next one is sent only
            after :meth:`preview_done`.
        failed(str): the source could not be opened or stopped working (one line for the user).
        opened(str): the source is open (its description).
        ended(): a file source ended (``loop`` False).
    """

    frame = Signal(object)
    failed = Signal(str)
    opened = Signal(str)
    ended = Signal()

    def __init__(self, spec: Any, slot: LatestFrame, *, loop: bool = True, speed: float = 1.0,
                 folder_fps: float = LIVE_FOLDER_FPS, source_factory: SourceFactory | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.slot = slot
        self.loop = loop
        self.speed = speed
        self.folder_fps = folder_fps
        self._factory = source_factory or (lambda s: open_source(s, fps=folder_fps))
        self._preview_free = threading.Event()
        self._preview_free.set()
        self.frames_read = 0

    def preview_done(self) -> None:
        """Called by the GUI when it has shown the last preview frame: the next one may be sent."""
        self._preview_free.set()

    def _sleep_until(self, deadline: float) -> bool:
        """Sleep in short slices until ``deadline`` (monotonic); False when interrupted."""
        while not self.isInterruptionRequested():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.02))
        return False

    def run(self) -> None:  # noqa: D102 (QThread entry point)
        offset = 0.0
        try:
            while not self.isInterruptionRequested():
                try:
                    source = self._factory(self.spec)
                except (SourceError, ValueError, TypeError) as error:
                    self.failed.emit(str(error))
                    return
                with source:
                    self.opened.emit(f"{describe_spec(self.spec)} ({source.kind}, {source.fps:.0f} fps)")
                    paced = source.kind != "camera"
                    start_wall, first, last = time.monotonic(), None, 0.0
                    for frame in source:
                        if self.isInterruptionRequested():
                            return
                        if paced:
                            first = frame.timestamp if first is None else first
                            if not self._sleep_until(start_wall + (frame.timestamp - first) / self.speed):
                                return
                            last = frame.timestamp
                            frame = dataclasses.replace(frame, timestamp=offset + frame.timestamp)
                        self.frames_read += 1
                        self.slot.put(frame)
                        if self._preview_free.is_set():
                            self._preview_free.clear()
                            self.frame.emit(frame)
                if not paced:  # a camera has no end: the core raises SourceError instead
                    return
                if not self.loop or self.frames_read == 0:
                    self.ended.emit()
                    return
                offset += last + 1.0 / max(source.fps, 1e-3)
        except SourceError as error:
            self.failed.emit(str(error))
        except Exception as error:  # a bug or a driver failure: a message, never a dead thread silently
            self.failed.emit(f"the camera stopped: {type(error).__name__}: {error}")


class ProcessorThread(QThread):
    """Loads the face pipeline, then runs the current task on the newest frame, dropping older ones.

    Args:
        slot: the slot the camera thread fills.
        pipeline_factory: builds the :class:`~faceid_desktop.pipeline.FacePipeline` (in this thread).

    Signals:
        ready(): the pipeline is loaded.
        processed(object, object): (task, result) for each frame processed; a screen ignores results of
            tasks that are not its own.
        failed(str): the pipeline could not be loaded or a task raised (one line).
    """

    ready = Signal()
    processed = Signal(object, object)
    failed = Signal(str)

    def __init__(self, slot: LatestFrame, pipeline_factory: Callable[[], FacePipeline],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self._factory = pipeline_factory
        self._lock = threading.Lock()
        self._task: Task | None = None
        self.pipeline: FacePipeline | None = None
        self.frames_processed = 0

    def set_task(self, task: Task | None) -> None:
        """Run ``task`` on the next frames (None: process nothing). Thread-safe."""
        with self._lock:
            self._task = task

    def run(self) -> None:  # noqa: D102 (QThread entry point)
        try:
            self.pipeline = self._factory()
        except Exception as error:
            self.failed.emit(f"the face model could not be loaded ({type(error).__name__}: {error})")
            return
        self.ready.emit()
        sequence = 0
        while not self.isInterruptionRequested():
            got = self.slot.newer_than(sequence, 0.05)
            if got is None:
                continue
            sequence, frame = got
            with self._lock:
                task = self._task
            if task is None:
                continue
            try:
                result = task(self.pipeline, frame)
            except Exception as error:
                self.failed.emit(f"a frame could not be analysed ({type(error).__name__}: {error})")
                time.sleep(0.2)
                continue
            self.frames_processed += 1
            self.processed.emit(task, result)


def _default_pipeline() -> FacePipeline:
    from ..pipeline import default_pipeline

    return default_pipeline()


class CameraHub(QObject):
    """The camera and processing threads behind every screen; one per main window.

    Args:
        spec: camera index, video path or image folder.
        pipeline_factory: builds the face pipeline in the processing thread (default: the pretrained one).
        loop, speed, folder_fps, source_factory: see :class:`CameraThread`.
        landmarks_factory: loads the 68-point landmark model (default: the pipeline's own), once per hub.

    Attributes:
        landmarks: the :class:`SharedLandmarks` the unlock screen's liveness check uses.

    Signals:
        frame(object): a preview :class:`~faceid_desktop.camera.Frame` (call nothing back: the hub does).
        processed(object, object): (task, result) from the processing thread.
        camera_failed(str): one line saying what went wrong with the camera or file.
        camera_opened(str): the camera or file is delivering frames.
        model_ready(): the face pipeline is loaded.
        model_failed(str): the pipeline could not be loaded, or a task failed.
    """

    frame = Signal(object)
    processed = Signal(object, object)
    camera_failed = Signal(str)
    camera_opened = Signal(str)
    model_ready = Signal()
    model_failed = Signal(str)

    def __init__(self, spec: Any = 0, pipeline_factory: Callable[[], FacePipeline] | None = None, *,
                 loop: bool = True, speed: float = 1.0, folder_fps: float = LIVE_FOLDER_FPS,
                 source_factory: SourceFactory | None = None,
                 landmarks_factory: Callable[[], Landmarks68] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.landmarks = SharedLandmarks(landmarks_factory or self._pipeline_landmarks)
        self.loop, self.speed, self.folder_fps = loop, speed, folder_fps
        self._source_factory = source_factory
        self.slot = LatestFrame()
        self.error: str | None = None
        self._camera: CameraThread | None = None
        self._processor = ProcessorThread(self.slot, pipeline_factory or _default_pipeline)
        self._processor.ready.connect(self.model_ready)
        self._processor.failed.connect(self.model_failed)
        self._processor.processed.connect(self.processed)
        self._started = False

    def _pipeline_landmarks(self) -> Landmarks68:
        """The loaded pipeline's 68-point model (one copy: about 70 MB and 2 s to load), a new one before
        the pipeline is loaded."""
        return getattr(self.pipeline, "landmarks", None) or Landmarks68()

    @property
    def pipeline(self) -> FacePipeline | None:
        """The face pipeline once loaded (used read-only by the training thread), else None."""
        return self._processor.pipeline

    @property
    def camera_running(self) -> bool:
        """True while the camera thread runs."""
        return self._camera is not None and self._camera.isRunning()

    def start(self) -> None:
        """Start the processing thread (loading the model) and the camera."""
        if not self._started:
            self._started = True
            self._processor.start()
        self.restart()

    def restart(self, spec: Any = None) -> None:
        """(Re)open the camera, optionally another one; after an error this is the retry."""
        self._stop_camera()
        if spec is not None:
            self.spec = spec
        self.error = None
        self.slot.clear()
        camera = CameraThread(self.spec, self.slot, loop=self.loop, speed=self.speed, folder_fps=self.folder_fps,
                              source_factory=self._source_factory)
        camera.frame.connect(self._on_frame)
        camera.failed.connect(self._on_failed)
        camera.opened.connect(self._on_opened)
        camera.ended.connect(lambda: self._on_failed(f"{describe_spec(self.spec)} ended"))
        self._camera = camera
        camera.start()

    def set_task(self, task: Task | None) -> None:
        """Run ``task`` on the newest frames from now on (None: none)."""
        self._processor.set_task(task)

    def _on_frame(self, frame: Frame) -> None:
        camera = self.sender()
        try:
            self.frame.emit(frame)
        finally:
            if isinstance(camera, CameraThread):
                camera.preview_done()

    def _on_opened(self, text: str) -> None:
        if self.sender() is not None and self.sender() is not self._camera:
            return  # a stopped camera's news, delivered after the switch: not about the camera now in use
        self.camera_opened.emit(text)

    def _on_failed(self, message: str) -> None:
        if self.sender() is not None and self.sender() is not self._camera:
            return  # a stopped camera's last words
        self.error = message
        self.camera_failed.emit(message)

    def _stop_camera(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.requestInterruption()
            camera.wait(5000)
            camera.deleteLater()

    def stop(self) -> None:
        """Stop both threads and wait for them (a few hundred milliseconds at most)."""
        self._stop_camera()
        self._processor.set_task(None)
        self._processor.requestInterruption()
        self._processor.wait(30000)
