"""The background model: how face embeddings of the population are spread, in aggregate statistics only.

The two-covariance model of face embeddings (S. Ioffe, "Probabilistic Linear Discriminant Analysis", ECCV
2006; S. J. D. Prince and J. H. Elder, "Probabilistic Linear Discriminant Analysis for Inferences About
Identity", ICCV 2007): a person's identity is a point ``y ~ N(mean, between)`` and each of their images is
``x = y + e`` with ``e ~ N(0, within)``. It lets FaceID Desktop estimate how often strangers would be
accepted at a threshold, draw a cohort of synthetic negatives, and score with the likelihood ratio.

The shipped model (``assets/background_model.npz``) is fitted by ``benchmarks/fit_background.py`` on the
embeddings of LFW's development-training people; it holds a mean and two covariance matrices and no
individual's embedding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .resources import asset

DIM = 128
DEFAULT_PATH = asset("background_model.npz")


class BackgroundModelError(ValueError):
    """The background model file is missing, damaged or inconsistent; the message names the file."""


@dataclass(frozen=True)
class BackgroundModel:
    """Population statistics of 128-d unit-length embeddings (SFace).

    Attributes:
        mean: (128,) float64 mean of all images' embeddings.
        between: (128, 128) float64 covariance of identities' mean embeddings (between-class).
        within: (128, 128) float64 covariance of images around their identity's mean (within-class, pooled).
        identities: identities the statistics come from; images: images they come from.
        source: what it was fitted on (a line of text).
    """

    mean: np.ndarray = field(repr=False)
    between: np.ndarray = field(repr=False)
    within: np.ndarray = field(repr=False)
    identities: int = 0
    images: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        for name, shape in (("mean", (DIM,)), ("between", (DIM, DIM)), ("within", (DIM, DIM))):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape or not np.isfinite(value).all():
                raise BackgroundModelError(f"background model: {name} must be finite of shape {shape}")
            object.__setattr__(self, name, value)
        for name in ("between", "within"):
            matrix = getattr(self, name)
            if not np.allclose(matrix, matrix.T, atol=1e-8) or np.linalg.eigvalsh(matrix).min() < -1e-8:
                raise BackgroundModelError(f"background model: {name} is not a covariance matrix")

    def sample_images(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``count`` synthetic images' embeddings of distinct random people: (count, 128) float64.

        Each is ``y + e`` with ``y ~ N(mean, between)`` and ``e ~ N(0, within)``, so the draws follow the
        population's spread (covariance between + within).
        """
        return rng.multivariate_normal(self.mean, self.between + self.within, size=count, method="eigh")

    def save(self, path: Path) -> None:
        """Write the model as a ``.npz`` of float32 arrays plus a JSON line of metadata (no pickle)."""
        meta = json.dumps({"identities": self.identities, "images": self.images, "source": self.source})
        np.savez_compressed(path, mean=self.mean.astype(np.float32), between=self.between.astype(np.float32),
                            within=self.within.astype(np.float32), meta=np.array(meta))

    @classmethod
    def load(cls, path: Path | None = None) -> "BackgroundModel":
        """Read a model written by :meth:`save`; the shipped one when ``path`` is None.

        Raises:
            BackgroundModelError: the file is missing, not a valid ``.npz``, or its arrays are malformed.
        """
        path = Path(path) if path is not None else DEFAULT_PATH
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(data["mean"], data["between"], data["within"], int(meta["identities"]),
                           int(meta["images"]), str(meta["source"]))
        except FileNotFoundError:
            raise BackgroundModelError(f"{path}: background model not found") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise BackgroundModelError(f"{path}: not a valid background model ({error})") from None


def fit_background(vectors: np.ndarray, labels: np.ndarray, source: str = "") -> BackgroundModel:
    """Fit the two-covariance model by the method of moments.

    Args:
        vectors: (N, 128) embeddings.
        labels: (N,) identity labels (any hashable values).
        source: what the data is, stored in the model.

    Returns:
        The model: ``mean`` of all images, ``between`` the covariance of the identities' means (each identity
        weighted once) less the image noise those means still carry, ``within`` the pooled covariance of images around their identity's mean over the
        identities with at least two images.

    Raises:
        ValueError: fewer than two identities, or no identity with two images.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(labels)
    if vectors.ndim != 2 or vectors.shape[1] != DIM or len(vectors) != len(labels):
        raise ValueError(f"need (N, {DIM}) vectors and N labels, got {vectors.shape} and {labels.shape}")
    names, inverse = np.unique(labels, return_inverse=True)
    if len(names) < 2:
        raise ValueError("need at least two identities")
    counts = np.bincount(inverse)
    sums = np.zeros((len(names), DIM))
    np.add.at(sums, inverse, vectors)
    means = sums / counts[:, None]
    residual = vectors - means[inverse]
    repeated = counts[inverse] >= 2
    dof = int((counts[counts >= 2] - 1).sum())
    if dof == 0:
        raise ValueError("need at least one identity with two or more images")
    within = residual[repeated].T @ residual[repeated] / dof
    # An identity's mean of n images still carries within / n of image noise: take it out of the spread
    # of the means (method of moments), and clip the few eigenvalues that noise pushes below zero.
    between = np.cov(means.T) - within * float(np.mean(1.0 / counts))
    values, vectors_ = np.linalg.eigh((between + between.T) / 2)
    between = (vectors_ * np.clip(values, 0.0, None)) @ vectors_.T
    return BackgroundModel(vectors.mean(axis=0), (between + between.T) / 2, (within + within.T) / 2,
                           len(names), len(vectors), source)
