"""Shared fixtures: the real face data (skipped with a reason when absent) and one pretrained pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never touch the user's own profiles or caches: everything the tests write goes to throw-away folders.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="faceid-test-cache-")
os.environ["FACEID_HOME"] = tempfile.mkdtemp(prefix="faceid-test-home-")

from faceid_desktop.threads import configure_threads, prepare_environment  # noqa: E402

prepare_environment()
configure_threads()

import pytest  # noqa: E402

from faceid_desktop.datasets import data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder; skips the test when it is absent."""
    root = data_dir()
    if root is None:
        pytest.skip("real face data not found: set FACEID_DATA or put the shared folder beside the checkout")
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights cache private to the test session, so tests never touch the user's cache."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def pipeline(cache_dir: Path):
    """The default FacePipeline with pretrained weights."""
    from faceid_desktop.pipeline import default_pipeline

    return default_pipeline(cache_dir)


@pytest.fixture(scope="session")
def two_faces(pipeline, shared):
    """``make(stranger_width)`` -> (a 480x960 grey RGB frame with the seed owner, ME_5, left (face 150 px
    wide) and a stranger, NOT_ME_2, right (face ``stranger_width`` px wide); the owner's photo)."""
    import cv2
    import numpy as np

    from faceid_desktop.images import read_rgb

    def scaled(image, width: int):
        scale = width / pipeline.detector.detect(image)[0].width
        return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    owner = read_rgb(shared / "faces" / "seed" / "ME" / "ME_5.jpg")
    stranger = read_rgb(shared / "faces" / "seed" / "NOT_ME" / "NOT_ME_2.jpg")

    def make(stranger_width: int):
        frame = np.full((480, 960, 3), 128, np.uint8)
        for picture, left in ((scaled(owner, 150), 0), (scaled(stranger, stranger_width), 480)):
            part = picture[:480, :480]
            frame[:part.shape[0], left:left + part.shape[1]] = part
        return frame, owner

    return make
