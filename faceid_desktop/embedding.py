"""Face chips in, 128-d embeddings out, with the torch port of dlib's face ResNet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .network import FaceResNet, chips_to_tensor
from .weights import load_pretrained


class Embedder:
    """Batched embedding of aligned face chips.

    Args:
        network: a FaceResNet (pretrained or adapted to the owner).
        model_id: identifies the weights (SHA-256 of their source); stored with every template.
        batch_size: chips per forward pass; bounds peak memory (about 4 MB of activations per chip).
    """

    def __init__(self, network: FaceResNet, model_id: str, batch_size: int = 32) -> None:
        self.network = network.eval()
        self.model_id = model_id
        self.batch_size = batch_size

    @classmethod
    def pretrained(cls, cache_dir: Path | None = None) -> "Embedder":
        """The embedder with dlib's pretrained weights; see :func:`faceid_desktop.weights.load_pretrained`."""
        network, model_id = load_pretrained(cache_dir)
        return cls(network, model_id)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Embed face chips.

        Args:
            chips: (N, 150, 150, 3) uint8 RGB chips from :func:`faceid_desktop.alignment.face_chip`
                (or one (150, 150, 3) chip).

        Returns:
            (N, 128) float32 embeddings in dlib's scale: the same numbers as dlib's
            ``compute_face_descriptor`` to within 1e-5; Euclidean distance < 0.6 usually means one person.

        Raises:
            ValueError: wrong chip shape or dtype.
        """
        x = chips_to_tensor(chips)
        if len(x) == 0:
            return np.zeros((0, 128), np.float32)
        with torch.inference_mode():
            parts = [self.network(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return torch.cat(parts).numpy().astype(np.float32, copy=False)
