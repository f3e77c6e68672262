"""Face chips in, 128-d unit-length embeddings out, with SFace in torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .network import EMBEDDING_DIM, SFaceNet, chips_to_tensor
from .weights import load_pretrained


def fast_dtype() -> torch.dtype:
    """bfloat16 where it was measured faster than float32 (AMX, or AVX512-BF16 on an AMD CPU), else float32.

    SFace's forward pass on one chip (benchmarks/latency.py): on an AMD EPYC (Zen 4, AVX512-BF16) 12.5 ms in
    bfloat16 against 16.9 ms in float32, oneDNN doing twice the multiply-adds per cycle and reading the
    head's weights in half the time; on an Intel Xeon with AVX512-BF16 but no AMX 27.2 against 20.7 ms on one
    thread (41.6 against 37.7 on two), so float32 there. AMX tiles multiply bfloat16 many times faster than
    AVX-512 does float32. Elsewhere oneDNN would emulate bfloat16, slower than float32.
    """
    if torch.cpu._is_amx_tile_supported():
        return torch.bfloat16
    return torch.bfloat16 if torch.cpu._is_avx512_bf16_supported() and _cpu_vendor() == "AuthenticAMD" \
        else torch.float32


def _cpu_vendor() -> str:
    """The CPU vendor string of Linux's /proc/cpuinfo (``GenuineIntel``, ``AuthenticAMD``), '' elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


class InferenceSFace:
    """SFace reduced for inference: each batch norm folded into the convolution or linear layer before it,
    the whole forward pass one loop of ``conv2d`` and ``prelu`` calls plus one ``linear``, in channels-last
    layout.

    MobileFaceNet on one chip is about 60 small operators, so the per-call overhead of ~120 nested
    ``nn.Module`` calls and 29 batch norms is a sizeable share of the time; folding changes the function only
    by float32 rounding (~1e-6). The head's ``bn1`` (an affine map per channel of the (1024, 7, 7) trunk
    output) and ``fc1``'s batch norm are folded into ``pre_fc1``'s weights and bias. Channels-last lets
    oneDNN keep its own layout from one convolution to the next instead of reordering each input and output
    (in bfloat16 about 10% faster; no change in float32).

    Args:
        network: a trained SFaceNet (not modified).
        dtype: the precision of the weights and activations: float32 (the network's own function) or
            bfloat16 (see :func:`fast_dtype`; unit embeddings move by at most ~0.04, median 0.01, in distance).
    """

    def __init__(self, network: SFaceNet, dtype: torch.dtype = torch.float32) -> None:
        self.dtype = dtype
        # (weight, bias, stride, padding, groups, PReLU slopes) per convolution, in order.
        self.layers: list[tuple[torch.Tensor, torch.Tensor, tuple, tuple, int, torch.Tensor]] = []
        with torch.no_grad():
            for module in network.modules():
                if isinstance(module, nn.Sequential) and len(module) == 3 and isinstance(module[0], nn.Conv2d):
                    conv, bn, prelu = module
                    scale, shift = _affine(bn)
                    weight = conv.weight * scale[:, None, None, None]
                    bias = shift if conv.bias is None else conv.bias * scale + shift
                    weight = weight.to(dtype).contiguous(memory_format=torch.channels_last)
                    self.layers.append((weight, bias.to(dtype), conv.stride, conv.padding, conv.groups,
                                        prelu.weight.detach().to(dtype)))
            tail = network.tail
            scale, shift = _affine(tail.bn1)  # per trunk channel, repeated over the 7x7 positions by flatten
            fc = tail.fc.weight.view(EMBEDDING_DIM, len(scale), -1)  # (128, 1024 channels, 49 positions)
            bias = tail.fc.bias + (fc * shift[None, :, None]).sum(dim=(1, 2))
            # Columns in channels-last order (position-major), as the trunk output is flattened.
            weight = (fc * scale[None, :, None]).transpose(1, 2).flatten(1)
            out_scale, out_shift = _affine(tail.bn_fc)
            self.head = ((weight * out_scale[:, None]).to(dtype), (bias * out_scale + out_shift).to(dtype))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 112, 112) float32 from :func:`chips_to_tensor` -> (N, 128) float32, SFace's raw output."""
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        for weight, bias, stride, padding, groups, slopes in self.layers:
            x = F.prelu(F.conv2d(x, weight, bias, stride, padding, 1, groups), slopes)
        return F.linear(x.permute(0, 2, 3, 1).flatten(1), *self.head).float()


def _affine(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch norm at inference as y = x * scale + shift: (scale, shift), each (channels,) float32."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale.detach(), (bn.bias - bn.running_mean * scale).detach()


class Embedder:
    """Batched embedding of aligned face chips.

    Args:
        network: an SFaceNet with its weights (not modified; :attr:`network` keeps it for training).
        model_id: identifies the weights (``"sface:" + SHA-256`` of their source); stored with every template.
        batch_size: chips per forward pass; bounds peak memory (about 2 MB of activations per chip).
        dtype: precision of inference, :func:`fast_dtype` when None (kept as :attr:`dtype`).
    """

    def __init__(self, network: SFaceNet, model_id: str, batch_size: int = 16,
                 dtype: torch.dtype | None = None) -> None:
        self.network = network.eval()
        self._inference = InferenceSFace(network, fast_dtype() if dtype is None else dtype)
        self.dtype = self._inference.dtype
        self.model_id = model_id
        self.batch_size = batch_size

    @classmethod
    def pretrained(cls, cache_dir: Path | None = None) -> "Embedder":
        """The embedder with SFace's pretrained weights; see :func:`faceid_desktop.weights.load_pretrained`."""
        network, model_id = load_pretrained(cache_dir)
        return cls(network, model_id)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Embed face chips.

        Args:
            chips: (N, 112, 112, 3) uint8 RGB chips from :func:`faceid_desktop.alignment.face_chip`
                (or one (112, 112, 3) chip).

        Returns:
            (N, 128) float32 unit-length embeddings (SFace's output divided by its length); the distance
            between two of them lies in [0, 2], and below about 0.9 usually means one person.

        Raises:
            ValueError: wrong chip shape or dtype.
        """
        x = chips_to_tensor(chips)
        if len(x) == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        with torch.inference_mode():
            parts = [self._inference(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
            return F.normalize(torch.cat(parts), dim=1).numpy().astype(np.float32, copy=False)
