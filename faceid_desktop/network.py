"""SFace, OpenCV Zoo's MobileFaceNet-style face recogniser, as a torch ``nn.Module``.

The network is the one of ``face_recognition_sface_2021dec`` (Y. Zhong, W. Deng, J. Hu, D. Zhao, X. Li, D. Wen,
"SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition", IEEE TIP 30, 2021), read layer by
layer from its ONNX graph (:mod:`faceid_desktop.weights`)::

    input (N, 3, 112, 112) RGB 0..255 -> (x - 127.5) / 128
    conv_1:  3x3 conv 3->32, BN, PReLU
    conv_2..conv_14: depthwise 3x3 (stride 2 in conv_3, 5, 7, 13) + BN + PReLU, pointwise 1x1 + BN + PReLU,
             channels 64, 128, 128, 256, 256, 512 x 6, 1024, 1024   -> (N, 1024, 7, 7)
    bn1 (BN), dropout (identity at inference), flatten, pre_fc1 (linear 50176 -> 128), fc1 (BN) -> (N, 128)

Convolutions have no bias; batch norms are kept as modules (eps 1e-3 after convolutions, 2e-5 in the head,
as in the graph) so that the tail of the network can be fine-tuned on the device
(:mod:`faceid_desktop.training`). The output is not unit length; :class:`~faceid_desktop.embedding.Embedder`
normalises it, and every distance in this app is between unit vectors (0 = same direction, 2 = opposite).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .alignment import CHIP_SIZE

EMBEDDING_DIM = 128
#: The graph's own input normalisation (its Sub and Mul nodes): (pixel - 127.5) * 0.0078125.
INPUT_MEAN = 127.5
INPUT_SCALE = 0.0078125
#: Pixel value that the normalisation maps to zero: padding a chip with it adds no signal.
NEUTRAL_PIXEL = INPUT_MEAN

_BN_EPS_CONV = 1e-3
_BN_EPS_HEAD = 2e-5
#: (pointwise output channels, depthwise stride) of conv_2 .. conv_14.
SEPARABLE = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
TRUNK_SHAPE = (1024, 7, 7)


class ConvBN(nn.Sequential):
    """Convolution (no bias) + BatchNorm2d + PReLU (one slope per channel): (N, in, H, W) -> (N, out, H', W')."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels, eps=_BN_EPS_CONV),
            nn.PReLU(out_channels),
        )


class Separable(nn.Sequential):
    """Depthwise 3x3 ConvBN (``conv_k_dw``) then pointwise 1x1 ConvBN (``conv_k``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            ConvBN(in_channels, in_channels, 3, stride, groups=in_channels),
            ConvBN(in_channels, out_channels, 1),
        )


class Tail(nn.Module):
    """The last separable block and the embedding head: (N, 1024, 7, 7) -> (N, 128).

    This is what the ``stage`` variant of on-device training fine-tunes (a copy of it).
    """

    def __init__(self) -> None:
        super().__init__()
        self.block = Separable(1024, 1024, 1)
        self.bn1 = nn.BatchNorm2d(1024, eps=_BN_EPS_HEAD)
        self.fc = nn.Linear(1024 * 7 * 7, EMBEDDING_DIM)
        self.bn_fc = nn.BatchNorm1d(EMBEDDING_DIM, eps=_BN_EPS_HEAD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1024, 7, 7) float32 trunk features -> (N, 128) float32 embeddings (not unit length)."""
        return self.bn_fc(self.fc(torch.flatten(self.bn1(self.block(x)), 1)))


class SFaceNet(nn.Module):
    """SFace: normalised chips (N, 3, 112, 112) float32 from :func:`chips_to_tensor` -> (N, 128) float32.

    ``trunk`` (everything up to conv_13, output (N, 1024, 7, 7)) and ``tail`` split the network for on-device
    training. Freshly constructed it holds torch's default initialisation; load the pretrained weights with
    :func:`faceid_desktop.weights.load_pretrained`.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBN(3, 32, 3)]
        channels = 32
        for out_channels, stride in SEPARABLE[:-1]:
            layers.append(Separable(channels, out_channels, stride))
            channels = out_channels
        self.trunk = nn.Sequential(*layers)
        self.tail = Tail()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 112, 112) float32 normalised chips -> (N, 128) float32 embeddings (not unit length)."""
        return self.tail(self.trunk(x))


def chips_to_tensor(chips: np.ndarray) -> torch.Tensor:
    """Normalise uint8 RGB chips as the SFace graph does.

    Args:
        chips: (N, 112, 112, 3) uint8 RGB from :func:`faceid_desktop.alignment.face_chip`, or one (112, 112, 3).

    Returns:
        (N, 3, 112, 112) float32 tensor, (pixel - 127.5) / 128.

    Raises:
        ValueError: wrong shape or dtype.
    """
    chips = np.asarray(chips)
    if chips.ndim == 3:
        chips = chips[None]
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(
            f"face chips must be uint8 of shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.dtype} {chips.shape}"
        )
    x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float()
    return (x - INPUT_MEAN) * INPUT_SCALE
