"""Face chips in, 128-d unit-length embeddings out, with SFace in torch."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .network import EMBEDDING_DIM, SFaceNet, chips_to_tensor
from .weights import load_pretrained


def fold_batch_norms(network: SFaceNet) -> SFaceNet:
    """An inference copy of ``network`` with every convolution's batch norm folded into it.

    The copy computes the same function (to float32 rounding, ~1e-6) about 1.5x faster; the original keeps
    its batch norms so that it can still be trained.
    """
    folded = copy.deepcopy(network).eval()
    for module in folded.modules():
        if isinstance(module, nn.Sequential) and len(module) == 3 and isinstance(module[0], nn.Conv2d) \
                and isinstance(module[1], nn.BatchNorm2d):
            module[0] = fuse_conv_bn_eval(module[0], module[1])
            module[1] = nn.Identity()
    return folded


class Embedder:
    """Batched embedding of aligned face chips.

    Args:
        network: an SFaceNet with its weights (not modified; an inference copy is made).
        model_id: identifies the weights (``"sface:" + SHA-256`` of their source); stored with every template.
        batch_size: chips per forward pass; bounds peak memory (about 2 MB of activations per chip).
    """

    def __init__(self, network: SFaceNet, model_id: str, batch_size: int = 16) -> None:
        self.network = network.eval()
        self._inference = fold_batch_norms(network)
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
