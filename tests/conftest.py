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
