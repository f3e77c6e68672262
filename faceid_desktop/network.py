"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) as a torch ``nn.Module``.

The architecture is the one of dlib's ``examples/dnn_face_recognition_ex.cpp``::

    block<N,stride>  = affine<con<N,3,3,1,1, relu<affine<con<N,3,3,stride,stride, x>>>>>
    ares<N>          = relu<add_prev1<block<N,1, tag1<x>>>>
    ares_down<N>     = relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<N,2, tag1<x>>>>>>>
    net = fc_no_bias<128, avg_pool_everything<
              ares_down<256> <- 2 x ares<256>, ares_down<256> <- 2 x ares<128>, ares_down<128>
              <- 3 x ares<64>, ares_down<64> <- 3 x ares<32>
              <- max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>

Conventions that matter for bit-level parity with dlib (checked against its output in the tests):

* input: (pixel - mean) / 256 per channel in R, G, B order, means :data:`INPUT_MEANS`;
* stride-2 convolutions and pools have padding 0, stride-1 3x3 convolutions padding 1, so the spatial sizes
  run 150, 72, 35, 17, 8, 4, 2, then a global average;
* a residual add of tensors of different shapes zero-pads both to the larger channels, rows and columns,
  anchored at index 0 (dlib's ``tt::add``), e.g. 256ch 3x3 + 128ch 4x4 -> 256ch 4x4;
* ``affine`` layers are per-channel ``x * gamma + beta`` (batch norm folded at training time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Per-channel means (R, G, B) that dlib's ``input_rgb_image_sized`` subtracts; read from the .dat file too.
INPUT_MEANS = (122.782, 117.001, 104.298)
#: dlib divides the centred pixel values by 256, not 255 (``input_rgb_image_sized::to_tensor``).
INPUT_SCALE = 256.0
CHIP_SIZE = 150
EMBEDDING_DIM = 128


@dataclass(frozen=True)
class Stage:
    """One residual stage: ``blocks`` residual units of ``channels``, the first one strided when ``downsample``."""

    channels: int
    blocks: int
    downsample: bool


#: Stages from the input side outwards (dlib's alevel4 .. alevel0).
STAGES = (
    Stage(32, 3, False),
    Stage(64, 4, True),
    Stage(128, 3, True),
    Stage(256, 3, True),
    Stage(256, 1, True),
)


class Affine(nn.Module):
    """Per-channel scale and shift, dlib's ``affine_`` in CONV mode: ``y = x * gamma + beta``.

    Input and output: (N, C, H, W) float32.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta.view(1, -1, 1, 1), x, self.gamma.view(1, -1, 1, 1))


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Add two NCHW tensors as dlib's ``tt::add`` does: missing channels, rows and columns count as zero.

    Both are padded at the high end of each dimension to the larger size, so the result has shape
    (N, max C, max H, max W).
    """
    if a.shape == b.shape:
        return a + b
    size = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:])]

    def pad(t: torch.Tensor) -> torch.Tensor:
        c, h, w = t.shape[1:]
        return F.pad(t, (0, size[2] - w, 0, size[1] - h, 0, size[0] - c))

    return pad(a) + pad(b)


class ResidualUnit(nn.Module):
    """dlib's ``ares`` (identity skip) or ``ares_down`` (stride 2, 2x2 average-pooled skip) unit.

    Input (N, in_channels, H, W) -> output (N, channels, H', W'); H' = 1 + (H - 3) // 2 when downsampling
    (then enlarged to the pooled skip's size by the zero-padded add), H otherwise.
    """

    def __init__(self, in_channels: int, channels: int, downsample: bool) -> None:
        super().__init__()
        stride, padding = (2, 0) if downsample else (1, 1)
        self.downsample = downsample
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=padding)
        self.affine1 = Affine(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1)
        self.affine2 = Affine(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        skip = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(add_zero_padded(y, skip))


class FaceResNet(nn.Module):
    """The 29-conv-layer ResNet of ``dnn_face_recognition_ex.cpp``: aligned face chip -> 128-d embedding.

    Forward input: (N, 3, 150, 150) float32, already normalised by :func:`chips_to_tensor`. Output:
    (N, 128) float32 in dlib's scale (not unit length; genuine pairs are usually < 0.6 apart).
    Freshly constructed it holds identity affines and torch's default initialisation; load the pretrained
    weights with :func:`faceid_desktop.weights.load_pretrained`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.affine1 = Affine(32)
        units = []
        in_channels = 32
        for stage in STAGES:
            for i in range(stage.blocks):
                units.append(ResidualUnit(in_channels, stage.channels, stage.downsample and i == 0))
                in_channels = stage.channels
        self.units = nn.Sequential(*units)
        self.fc = nn.Linear(in_channels, EMBEDDING_DIM, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 256-d pooled features before the final projection: (N, 3, 150, 150) -> (N, 256)."""
        x = F.max_pool2d(F.relu(self.affine1(self.conv1(x))), 3, 2)
        return self.units(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def chips_to_tensor(chips: np.ndarray) -> torch.Tensor:
    """Normalise uint8 RGB chips the way dlib's ``input_rgb_image_sized<150>`` does.

    Args:
        chips: (N, 150, 150, 3) uint8 RGB, or a single (150, 150, 3) chip.

    Returns:
        (N, 3, 150, 150) float32 tensor, (pixel - mean) / 256 per channel.

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
    means = torch.tensor(INPUT_MEANS, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - means) / INPUT_SCALE
