"""On-device training (:func:`faceid_desktop.training.train_owner`) in a QThread, with progress signals."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from ..pipeline import FacePipeline
from ..training import Progress, TrainingConfig, train_owner


def not_me_chips(pipeline: FacePipeline, paths: list[Path]) -> tuple[np.ndarray, list[str]]:
    """Aligned chips of the largest face of each "not me" photo.

    Returns:
        ((M, 112, 112, 3) uint8 RGB chips, one line per photo that was skipped and why).
    """
    from ..images import ImageError, read_rgb

    chips, skipped = [], []
    for path in paths:
        try:
            image = read_rgb(path)
        except ImageError as error:
            skipped.append(str(error))
            continue
        faces = pipeline.detector.detect(image)
        if not faces:
            skipped.append(f"{Path(path).name}: no face found")
            continue
        chips.append(pipeline.chip(image, faces[0]))
    return (np.stack(chips) if chips else np.zeros((0, 112, 112, 3), np.uint8)), skipped


class TrainingThread(QThread):
    """Runs :func:`~faceid_desktop.training.train_owner` on the owner's chips.

    Args:
        pipeline: the loaded face pipeline (its network is read, never modified; its detector cuts the
            "not me" chips).
        owner_chips: (N, 112, 112, 3) uint8 RGB chips, N >= 2.
        not_me_paths: photos of other people the user added.
        negative_embeddings: (K, 128) templates of the other profiles, or None.
        config: training hyper-parameters.
        use_background: draw synthetic negatives from the shipped background model.

    Signals:
        progress(object): a :class:`~faceid_desktop.training.Progress` after every step.
        note(str): a line to show (skipped "not me" photos, ...).
        done(object): the :class:`~faceid_desktop.training.TrainingResult` (``cancelled`` when stopped).
        failed(str): one line: training could not run.
    """

    progress = Signal(object)
    note = Signal(str)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, pipeline: FacePipeline, owner_chips: np.ndarray, not_me_paths: list[Path] = (),
                 negative_embeddings: np.ndarray | None = None, config: TrainingConfig = TrainingConfig(),
                 use_background: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pipeline = pipeline
        self.owner_chips = owner_chips
        self.not_me_paths = list(not_me_paths)
        self.negative_embeddings = negative_embeddings
        self.config = config
        self.use_background = use_background
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        """Ask training to stop (it does within a fraction of a second); ``done`` then reports ``cancelled``."""
        self.cancel_event.set()

    def run(self) -> None:  # noqa: D102 (QThread entry point)
        try:
            chips, skipped = not_me_chips(self.pipeline, self.not_me_paths)
            for line in skipped:
                self.note.emit(f"\"not me\" photo skipped: {line}")
            background = None
            if self.use_background:
                from ..background import BackgroundModel, BackgroundModelError

                try:
                    background = BackgroundModel.load()
                except (BackgroundModelError, OSError) as error:
                    self.note.emit(f"background model not used: {error}")
            result = train_owner(self.pipeline.embedder.network, self.owner_chips,
                                 not_me_chips=chips if len(chips) else None,
                                 negative_embeddings=self.negative_embeddings, background=background,
                                 config=self.config, progress=self.progress.emit, cancel=self.cancel_event)
        except Exception as error:
            self.failed.emit(f"training could not run ({error})")
            return
        self.done.emit(result)
