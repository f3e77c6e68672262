"""Pretrained weights for :class:`~faceid_desktop.network.FaceResNet`, converted once and cached.

The source is dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (from the CC0 package
``face_recognition_models``). Parsing it takes tens of milliseconds, hashing it a few more; the converted
tensors are cached as safetensors (no pickle) in the user cache directory, under a name keyed by the
source file's SHA-256, so a changed source file is converted again and a damaged cache file is replaced.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import platformdirs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .dlib_resnet import read_dlib_resnet_file
from .model_files import RECOGNITION_MODEL, model_path
from .network import FaceResNet

APP_NAME = "faceid-desktop"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """The per-user cache directory (platformdirs), e.g. ``~/.cache/faceid-desktop`` on Linux."""
    return Path(platformdirs.user_cache_dir(APP_NAME))


def _write_atomically(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_cache(path: Path, expected: dict[str, torch.Tensor], model_id: str) -> dict[str, torch.Tensor] | None:
    """Return the cached tensors when the file is private, was converted from the source with SHA-256
    ``model_id`` and holds exactly the expected names and shapes; else None (the caller converts again)."""
    try:
        if os.name == "posix" and os.stat(path).st_mode & 0o022:
            return None  # others could have replaced the network: never trust it, rebuild it
        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}).get("source_sha256") != model_id:
                return None
        tensors = load_file(path)
    except (OSError, SafetensorError, ValueError):
        return None
    if tensors.keys() != expected.keys() or any(tensors[k].shape != v.shape for k, v in expected.items()):
        return None
    return tensors


def load_pretrained(cache_dir: Path | None = None, source: Path | None = None) -> tuple[FaceResNet, str]:
    """Build a FaceResNet with dlib's pretrained weights, in eval mode.

    Args:
        cache_dir: where converted weights are cached; :func:`default_cache_dir` when None.
        source: the dlib ``.dat`` file; the one of ``face_recognition_models`` when None.

    Returns:
        (network, model_id): model_id is the source file's SHA-256, which identifies the weights
        (profiles record it to refuse templates made with other weights).

    Raises:
        faceid_desktop.model_files.ModelFileError: the source file is missing.
        faceid_desktop.dlib_format.DlibFormatError: the source file is damaged or of another network.
    """
    source = Path(source) if source is not None else model_path(RECOGNITION_MODEL)
    model_id = file_sha256(source)
    network = FaceResNet()
    expected = network.state_dict()
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"face_resnet_{model_id[:16]}.safetensors"
    tensors = _load_cache(cache, expected, model_id) if cache.is_file() else None
    if tensors is None:
        tensors = dict(read_dlib_resnet_file(source))
        try:
            _write_atomically(tensors, cache, {"source_sha256": model_id})
        except OSError:
            pass  # a read-only cache only costs the conversion next time
    network.load_state_dict(tensors)
    return network.eval(), model_id
