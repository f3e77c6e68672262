"""Read ``dlib_face_recognition_resnet_model_v1.dat`` into a :class:`~faceid_desktop.network.FaceResNet` state dict.

No dlib call is involved: the file is parsed with :mod:`faceid_desktop.dlib_format`. dlib does not store the
network's topology (tag and skip ids are template parameters), so the reader derives the expected layer
sequence from :data:`faceid_desktop.network.STAGES` and checks every record of the file against it: layer
kinds, filter counts, kernel sizes, strides, paddings and tensor shapes. A file for another architecture is
refused with the offset of the first mismatch.

File order (``dlib/dnn/core.h``, ``add_layer``/``add_tag_layer``/``add_loss_layer`` serializers):

1. the loss layer: a version integer, ``loss_metric_2``, margin and distance threshold;
2. one version integer per wrapper from the outermost layer inwards (tag and skip wrappers write 1, layer
   wrappers 2, the innermost wrapper, which owns the input layer, 3);
3. the input layer ``input_rgb_image_sized``: three channel means, then rows and columns;
4. each computational layer's data from the input side outwards, each followed by bookkeeping that the
   reader skips (3 bools and 3 empty tensors; the innermost wrapper adds its sample expansion factor).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .dlib_format import DlibFormatError, DlibReader
from .network import CHIP_SIZE, EMBEDDING_DIM, INPUT_MEANS, STAGES


@dataclass(frozen=True)
class _Op:
    """One wrapper of dlib's network, from the input side outwards."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, tag, skip, avg_pool_everything, fc
    filters: int = 0
    size: int = 0
    stride: int = 1
    target: str = ""  # module path in FaceResNet for the layers that hold weights


def _expected_ops() -> list[_Op]:
    ops = [_Op("con", 32, 7, 2, "conv1"), _Op("affine", 32, target="affine1"), _Op("relu"), _Op("max_pool", size=3, stride=2)]
    index = 0
    for stage in STAGES:
        for i in range(stage.blocks):
            down = stage.downsample and i == 0
            n, unit = stage.channels, f"units.{index}"
            ops += [
                _Op("tag"),
                _Op("con", n, 3, 2 if down else 1, f"{unit}.conv1"),
                _Op("affine", n, target=f"{unit}.affine1"),
                _Op("relu"),
                _Op("con", n, 3, 1, f"{unit}.conv2"),
                _Op("affine", n, target=f"{unit}.affine2"),
            ]
            if down:
                ops += [_Op("tag"), _Op("skip"), _Op("avg_pool", size=2, stride=2)]
            ops += [_Op("add_prev"), _Op("relu")]
            index += 1
    ops += [_Op("avg_pool_everything"), _Op("fc", EMBEDDING_DIM, target="fc")]
    return ops


def _bookkeeping(reader: DlibReader) -> None:
    """Skip the per-wrapper training state: 3 bools, then 3 tensors that are empty in a saved model."""
    for _ in range(3):
        reader.read_bool()
    for _ in range(3):
        reader.read_tensor()


def _check(reader: DlibReader, start: int, what: str, found: object, expected: object) -> None:
    if found != expected:
        raise reader.error(f"{what}: expected {expected}, found {found}", start)


def _read_con(reader: DlibReader, op: _Op, in_channels: int, out: dict[str, np.ndarray]) -> None:
    start = reader.offset
    version = reader.read_string()
    if version not in ("con_4", "con_5", "con_6"):
        raise reader.error(f"expected a convolution layer (con_4/5/6), found '{version}'", start)
    params = reader.read_tensor()
    fields = [reader.read_int() for _ in range(7)]  # num_filters, nr, nc, stride_y, stride_x, padding_y, padding_x
    padding = 0 if op.stride != 1 else op.size // 2
    _check(reader, start, "convolution (filters, nr, nc, strides, paddings)", fields,
           [op.filters, op.size, op.size, op.stride, op.stride, padding, padding])
    filters = reader.read_tensor()
    reader.read_tensor()  # bias alias
    for _ in range(4):
        reader.read_float()  # learning-rate and weight-decay multipliers
    use_bias = reader.read_bool() if version in ("con_5", "con_6") else True
    if version == "con_6" and reader.read_bool():
        raise reader.error("fused-ReLU convolutions (use_relu) are not part of this architecture", start)
    n_weights = op.filters * in_channels * op.size * op.size
    _check(reader, start, "convolution filter shape", filters.shape, (op.filters, in_channels, op.size, op.size))
    n_total = n_weights + (op.filters if use_bias else 0)
    if params.data is None or params.data.size != n_total:
        raise reader.error(f"convolution parameter count: expected {n_total}", start)
    flat = params.data.reshape(-1)
    out[f"{op.target}.weight"] = flat[:n_weights].reshape(op.filters, in_channels, op.size, op.size)
    out[f"{op.target}.bias"] = flat[n_weights:] if use_bias else np.zeros(op.filters, np.float32)


def _read_affine(reader: DlibReader, op: _Op, out: dict[str, np.ndarray]) -> None:
    start = reader.offset
    version = reader.read_string()
    if version not in ("affine_", "affine_2"):
        raise reader.error(f"expected an affine layer (affine_/affine_2), found '{version}'", start)
    params = reader.read_tensor()
    gamma, beta = reader.read_tensor(), reader.read_tensor()
    mode = reader.read_int()
    disabled = reader.read_bool() if version == "affine_2" else False
    _check(reader, start, "affine mode (0 = per channel)", mode, 0)
    gamma_value = np.ones(op.filters, np.float32)
    beta_value = np.zeros(op.filters, np.float32)
    if not disabled:
        _check(reader, start, "affine gamma/beta shapes", (gamma.shape, beta.shape), ((1, op.filters, 1, 1),) * 2)
        if params.data is None or params.data.size != 2 * op.filters:
            raise reader.error(f"affine parameter count: expected {2 * op.filters}", start)
        gamma_value, beta_value = params.data.reshape(2, op.filters)
    out[f"{op.target}.gamma"] = gamma_value
    out[f"{op.target}.beta"] = beta_value


def _read_pool(reader: DlibReader, op: _Op, version_prefix: str, size: int, stride: int) -> None:
    start = reader.offset
    version = reader.read_string()
    if version != f"{version_prefix}_2":
        raise reader.error(f"expected '{version_prefix}_2', found '{version}'", start)
    fields = [reader.read_int() for _ in range(6)]  # nr, nc, stride_y, stride_x, padding_y, padding_x
    padding = 0 if stride != 1 else size // 2
    _check(reader, start, f"{version_prefix} (nr, nc, strides, paddings)", fields,
           [size, size, stride, stride, padding, padding])


def _read_named(reader: DlibReader, names: tuple[str, ...]) -> None:
    start = reader.offset
    version = reader.read_string()
    if version not in names:
        raise reader.error(f"expected {' or '.join(names)}, found '{version}'", start)


def _read_fc(reader: DlibReader, op: _Op, in_features: int, out: dict[str, np.ndarray]) -> None:
    start = reader.offset
    version = reader.read_string()
    if version not in ("fc_2", "fc_3"):
        raise reader.error(f"expected a fully connected layer (fc_2/fc_3), found '{version}'", start)
    num_outputs, num_inputs = reader.read_int(), reader.read_int()
    _check(reader, start, "fc (outputs, inputs)", (num_outputs, num_inputs), (op.filters, in_features))
    params = reader.read_tensor()
    reader.read_tensor()
    reader.read_tensor()
    bias_mode = reader.read_int()
    _check(reader, start, "fc bias mode (1 = no bias)", bias_mode, 1)
    for _ in range(4):
        reader.read_float()
    if version == "fc_3":
        reader.read_bool()
    if params.data is None or params.data.size != num_inputs * num_outputs:
        raise reader.error(f"fc parameter count: expected {num_inputs * num_outputs}", start)
    # dlib multiplies x (N, inputs) by a row-major (inputs, outputs) matrix; torch's Linear holds its transpose.
    out[f"{op.target}.weight"] = np.ascontiguousarray(params.data.reshape(num_inputs, num_outputs).T)


def read_dlib_resnet(data: bytes, source: str = "<bytes>") -> OrderedDict[str, torch.Tensor]:
    """Parse the bytes of ``dlib_face_recognition_resnet_model_v1.dat`` into a FaceResNet state dict.

    Args:
        data: the file's bytes.
        source: name used in error messages.

    Returns:
        Mapping from FaceResNet parameter names to float32 tensors, ready for ``load_state_dict``.

    Raises:
        DlibFormatError: the bytes are truncated, malformed, or describe another network; the message
            names the byte offset.
    """
    reader = DlibReader(data, source)
    ops = _expected_ops()
    start = reader.offset
    _check(reader, start, "loss wrapper version", reader.read_int(), 1)
    start = reader.offset
    loss = reader.read_string()
    if loss not in ("loss_metric_", "loss_metric_2"):
        raise reader.error(f"expected the metric loss layer (loss_metric_2), found '{loss}'", start)
    reader.read_float()  # margin
    if loss == "loss_metric_2":
        reader.read_float()  # distance threshold

    for i, op in enumerate(reversed(ops)):
        start = reader.offset
        expected = 1 if op.kind in ("tag", "skip") else (3 if i == len(ops) - 1 else 2)
        _check(reader, start, f"version of wrapper {i} ({op.kind})", reader.read_int(), expected)

    start = reader.offset
    _check(reader, start, "input layer", reader.read_string(), "input_rgb_image_sized")
    means = [reader.read_float() for _ in range(3)]
    if not np.allclose(means, INPUT_MEANS, atol=1e-3):
        raise reader.error(f"input means: expected {INPUT_MEANS}, found {means}", start)
    _check(reader, start, "input size", (reader.read_int(), reader.read_int()), (CHIP_SIZE, CHIP_SIZE))

    arrays: dict[str, np.ndarray] = {}
    channels = 3
    first = True
    for op in ops:
        if op.kind in ("tag", "skip"):
            continue
        if op.kind == "con":
            _read_con(reader, op, channels, arrays)
            channels = op.filters
        elif op.kind == "affine":
            _read_affine(reader, op, arrays)
        elif op.kind == "relu":
            _read_named(reader, ("relu_",))
        elif op.kind == "add_prev":
            _read_named(reader, ("add_prev_",))
        elif op.kind == "max_pool":
            _read_pool(reader, op, "max_pool", op.size, op.stride)
        elif op.kind == "avg_pool":
            _read_pool(reader, op, "avg_pool", op.size, op.stride)
        elif op.kind == "avg_pool_everything":
            _read_pool(reader, op, "avg_pool", 0, 1)
        else:
            _read_fc(reader, op, channels, arrays)
        _bookkeeping(reader)
        if first:
            reader.read_int()  # the innermost wrapper's sample expansion factor
            first = False
    if not reader.at_end:
        raise reader.error("unexpected bytes after the last layer")
    return OrderedDict((name, torch.from_numpy(np.array(value, dtype=np.float32))) for name, value in arrays.items())


def read_dlib_resnet_file(path: Path) -> OrderedDict[str, torch.Tensor]:
    """Read and parse a ``.dat`` file; see :func:`read_dlib_resnet`.

    Raises:
        OSError: the file cannot be read.
        DlibFormatError: as :func:`read_dlib_resnet`.
    """
    return read_dlib_resnet(Path(path).read_bytes(), str(path))


__all__ = ["DlibFormatError", "read_dlib_resnet", "read_dlib_resnet_file"]
