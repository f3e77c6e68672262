"""On-device adaptation to one owner with the triplet loss (core, no Qt).

The loss is FaceNet's (F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding for Face
Recognition and Clustering", CVPR 2015, eq. 1-3): for L2-normalised embeddings ``f``,

    L = mean over triplets of max(0, |f(a) - f(p)|^2 - |f(a) - f(n)|^2 + alpha)

with anchors ``a`` and positives ``p`` from the owner and negatives ``n`` from anyone else, every
anchor-positive pair of a batch used, and the negative of each pair mined online within the batch
(section 3.2): ``semi-hard`` takes the closest negative still farther from the anchor than the positive
(FaceNet's choice, as TensorFlow's ``triplet_semihard_loss`` implements it), and the closest negative when
every negative is nearer than the positive (TensorFlow takes the farthest there; a stranger inside the
owner's cluster is exactly the error to correct); ``hard`` always takes the closest negative (batch-hard,
A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for Person Re-Identification", 2017).

The network is SFace (:mod:`faceid_desktop.network`). What is trained (``TrainingConfig.variant``):

* ``head``: a 128x128 affine map on the frozen unit-length 128-d embedding, initialised to the identity,
  optionally plus a residual MLP whose output layer starts at zero (so training starts from the pretrained
  space). Every kind of negative applies: "not me" chips, other profiles' templates, background samples.
* ``stage``: a copy of the network's ``tail`` (the last separable block, the batch norms and the 50176 -> 128
  linear layer), fine-tuned from cached outputs of the frozen trunk (1024 x 7 x 7 per chip), batch norms
  kept in inference mode. Only chip negatives apply: 128-d negatives were made by the pretrained layers
  this variant changes.
* ``both``: tail and head; chip negatives go through both, 128-d negatives through the head.

Optionally the trained parameters are pulled towards their starting values (``anchor_weight``; L2-SP:
X. Li, Y. Grandvalet, F. Davoine, "Explicit Inductive Bias for Transfer Learning with Convolutional
Networks", ICML 2018), so that a handful of photos cannot make the network forget everyone else. It is off
by default: it did not help on the owner protocol (``benchmarks/training.py``). What limits the change
instead is the hinge itself: once every triplet of a batch meets the margin (after about 10 steps for the
head, 3 for the stage) the gradient is zero and only Adam's decaying momentum still moves the parameters.

Adapted embeddings are L2-normalised (unit length), the space the loss is defined in, like the pretrained
ones; an adapted space is spread differently, so an adapted profile has its own threshold
(:data:`ADAPTED_THRESHOLD`). Measured figures: ``benchmarks/training.py`` and the README.

Nothing here writes files or keeps global state: the result holds the trained tensors (for safetensors) and
the owner's templates in the adapted space, and the caller decides whether to keep them.
"""

from __future__ import annotations

import copy
import hashlib
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import nn

from .background import BackgroundModel
from .network import CHIP_SIZE, EMBEDDING_DIM, NEUTRAL_PIXEL, TRUNK_SHAPE, SFaceNet, chips_to_tensor

VARIANTS = ("head", "stage", "both")
MINING = ("semi-hard", "hard")

#: Distance threshold between unit-length adapted embeddings (probe to the centre of the adapted templates):
#: the global threshold at FAR 1e-5 of the default configuration on the owner protocol (110 LFW owners with at
#: least 2 enrollable images, 5 enrollment images, 20 "not me" chips and the background model as negatives;
#: benchmarks/training.py measured 0.8325 there, against 0.947 for the pretrained space at the same FAR): the
#: head pulls the owner's faces together and so shrinks the whole space a little.
ADAPTED_THRESHOLD = 0.83

#: Prefix of the head's parameters in an adapter; every other key names a parameter of SFaceNet.
HEAD_PREFIX = "head."

# An affine shift pads with the pixel value the network's normalisation maps to zero, so the border
# carries no signal.
_FILL = [NEUTRAL_PIXEL] * 3
# Chips per forward pass while caching features: small enough that a cancel is seen within ~0.2 s.
_EMBED_BATCH = 16


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random changes applied to enrollment and "not me" chips, meant to look like the
    differences between webcam frames of one sitting, not like other people: landmark jitter (a small
    rotation, shift and scale of the aligned chip), focus (blur), exposure and auto white balance
    (brightness, contrast, saturation, per-channel gains), sensor noise and compression. Each chip's first
    copy is the chip itself.

    Attributes:
        flip: probability of a horizontal flip.
        rotation: degrees, drawn in [-x, x]; translation: pixels per axis in [-x, x]; scale: [1 - x, 1 + x].
        brightness, contrast, saturation: factors drawn uniformly in [1 - x, 1 + x] (torchvision's
            ``adjust_*`` definitions).
        white_balance: per-channel gain drawn in [1 - x, 1 + x] (colour casts of auto white balance).
        blur: probability of a Gaussian blur, sigma drawn from ``blur_sigmas`` (pixels).
        noise: probability of additive Gaussian noise with sigma drawn in ``noise_sigma`` (grey levels).
        jpeg: probability of JPEG re-encoding at a quality drawn from ``jpeg_qualities``.
    """

    flip: float = 0.5
    rotation: float = 5.0
    translation: float = 3.0
    scale: float = 0.05
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.2
    white_balance: float = 0.08
    blur: float = 0.3
    blur_sigmas: tuple[float, ...] = (0.5, 0.8, 1.2)
    noise: float = 0.3
    noise_sigma: tuple[float, float] = (1.0, 6.0)
    jpeg: float = 0.5
    jpeg_qualities: tuple[int, ...] = (40, 55, 70, 85)

    @classmethod
    def none(cls) -> "Augmentation":
        """No change at all (every copy is the chip itself)."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, (0.5,), 0.0, (1.0, 1.0), 0.0, (90,))


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of :func:`train_owner`.

    Attributes:
        alpha: the triplet margin, in squared distance between unit vectors (FaceNet uses 0.2).
        steps: optimiser steps.
        batch_size: owner samples (augmented chips) per batch; every ordered pair of them is an
            anchor-positive pair, so a batch holds batch_size * (batch_size - 1) triplets.
        negatives_per_batch: negatives per batch, the pool the negatives of a batch's triplets are mined from.
        learning_rate: Adam's step size for the head.
        stage_learning_rate: Adam's step size for the last residual stage and fc.
        anchor_weight: weight of the L2-SP penalty, sum of squared changes of the trained parameters.
        seed: seeds every random choice (augmentation, batches, background draws, initialisation).
        variant: ``head``, ``stage`` or ``both`` (see the module docstring).
        mining: ``semi-hard`` or ``hard``.
        hidden: width of the head's residual MLP; 0 for the affine map alone.
        augmentations_per_image: copies of each owner chip (the first unchanged).
        not_me_augmentations: copies of each "not me" chip (the first unchanged).
        background_negatives: synthetic negatives drawn from the background model.
        augmentation: the ranges of the random changes.
    """

    alpha: float = 0.2
    steps: int = 100
    batch_size: int = 32
    negatives_per_batch: int = 256
    learning_rate: float = 1e-3
    stage_learning_rate: float = 1e-4
    anchor_weight: float = 0.0
    seed: int = 0
    variant: str = "head"
    mining: str = "semi-hard"
    hidden: int = 0
    augmentations_per_image: int = 16
    not_me_augmentations: int = 4
    background_negatives: int = 4096
    augmentation: Augmentation = field(default_factory=Augmentation)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.mining not in MINING:
            raise ValueError(f"mining must be one of {MINING}, got {self.mining!r}")
        for name in ("steps", "batch_size", "negatives_per_batch", "augmentations_per_image",
                     "not_me_augmentations"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (an anchor and a positive)")
        if not isinstance(self.hidden, int) or self.hidden < 0:
            raise ValueError(f"hidden must be a whole number >= 0, got {self.hidden!r}")
        if not isinstance(self.background_negatives, int) or self.background_negatives < 0:
            raise ValueError(f"background_negatives must be a whole number >= 0, got {self.background_negatives!r}")
        for name in ("alpha", "learning_rate", "stage_learning_rate"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not math.isfinite(self.anchor_weight) or self.anchor_weight < 0:
            raise ValueError(f"anchor_weight must be >= 0, got {self.anchor_weight!r}")


@dataclass(frozen=True)
class Progress:
    """Where a training run is, reported after every step.

    Attributes:
        step: steps done (1..steps).
        steps: steps in all.
        loss: this step's triplet loss (without the L2-SP penalty).
        active_triplets: share of this step's triplets with a loss > 0, in [0, 1].
        elapsed: seconds since :func:`train_owner` started (augmentation and embedding included).
        remaining: estimated seconds to the end, from the mean step time so far.
    """

    step: int
    steps: int
    loss: float
    active_triplets: float
    elapsed: float
    remaining: float


@dataclass(frozen=True)
class TrainingResult:
    """The outcome of :func:`train_owner`.

    Attributes:
        adapter: only the trained parameters, float32 contiguous CPU tensors (safetensors-ready): ``head.*``
            for the head, SFaceNet's own names (``tail.*``) for the stage; empty when
            cancelled.
        templates: (N, 128) float32 unit-length embeddings of the N owner chips (unaugmented) in the
            adapted space; (0, 128) when cancelled.
        losses: the triplet loss of each step done.
        active: the share of active triplets of each step done.
        cancelled: True when stopped by the cancel event; the adapter is then not usable.
        seconds: wall time of the call.
        config: the configuration used.
    """

    adapter: dict[str, torch.Tensor] = field(repr=False)
    templates: np.ndarray = field(repr=False)
    losses: list[float]
    active: list[float]
    cancelled: bool
    seconds: float
    config: TrainingConfig


class Cancelled(Exception):
    """Raised inside :func:`train_owner` when its cancel event is set; never escapes it."""


# -- augmentation ------------------------------------------------------------------------------------------

def augment(chips: np.ndarray, copies: int, rng: np.random.Generator,
            augmentation: Augmentation = Augmentation(), cancel: threading.Event | None = None) -> np.ndarray:
    """Random webcam-like variations of face chips.

    Vectorised over blocks of :data:`_EMBED_BATCH` outputs, because per-image calls cost milliseconds each
    (more on a loaded machine) and training must stay within seconds, while a cancel is still seen between
    blocks: flips, the affine jitter (``affine_grid`` / ``grid_sample``) and the colour changes
    (torchvision.transforms.v2's ``adjust_brightness`` / ``adjust_contrast`` / ``adjust_saturation``
    formulas with one factor per chip) run on the block; the blur is v2's ``gaussian_blur`` on the chips
    sharing a sigma. JPEG goes through OpenCV's libjpeg: torchvision 0.29 deprecates its own image codecs
    (v2's ``jpeg`` warns at every call). Every parameter comes from ``rng`` (never torch's global generator),
    so the output depends only on the inputs and the generator's state, and concurrent threads do not
    disturb each other.

    Args:
        chips: (N, 112, 112, 3) uint8 RGB chips.
        copies: copies per chip, >= 1; copy 0 of each chip is the chip unchanged.
        rng: numpy random generator.
        augmentation: the ranges of the changes.
        cancel: checked between blocks; :class:`Cancelled` is raised when set.

    Returns:
        (N * copies, 112, 112, 3) uint8, chip i's copies at rows i * copies .. (i + 1) * copies - 1.

    Raises:
        ValueError: bad chips or copies.
    """
    chips = _check_chips(chips, "chips", 0)
    if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
        raise ValueError(f"copies must be a whole number >= 1, got {copies!r}")
    out = np.repeat(chips, copies, axis=0)
    changed = np.arange(len(out)) % copies != 0  # copy 0 stays as enrolled
    for start in range(0, len(out), _EMBED_BATCH):
        _check_cancel(cancel)
        block = slice(start, start + _EMBED_BATCH)
        if changed[block].any():
            out[block] = _augment_block(out[block], changed[block], rng, augmentation)
    return out


def _augment_block(chips: np.ndarray, changed: np.ndarray, rng: np.random.Generator, a: Augmentation) -> np.ndarray:
    """Augment the chips of a (B, 112, 112, 3) uint8 block where ``changed`` (B,) is True."""
    x = torch.from_numpy(chips).permute(0, 3, 1, 2).float()  # (B, 3, H, W), 0..255
    b = len(x)

    def draw(low: float, high: float) -> torch.Tensor:
        return torch.from_numpy(rng.uniform(low, high, size=b).astype(np.float32))

    def chance(p: float) -> np.ndarray:
        return (rng.random(b) < p) & changed

    # Geometry: the chip's landmarks come from a 5-point fit that jitters by a pixel or two between frames.
    flip = torch.from_numpy(chance(a.flip))
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    angle = torch.deg2rad(draw(-a.rotation, a.rotation))
    scale = draw(1 - a.scale, 1 + a.scale)
    shift = torch.stack([draw(-a.translation, a.translation), draw(-a.translation, a.translation)], 1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # Output pixel -> input pixel, in normalised coordinates (-1..1 across the chip).
    theta = torch.stack([torch.stack([cos, -sin, -2 * shift[:, 0] / CHIP_SIZE], 1),
                         torch.stack([sin, cos, -2 * shift[:, 1] / CHIP_SIZE], 1)], 1)
    mean = torch.tensor(_FILL).view(1, 3, 1, 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x - mean, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + mean

    blur = chance(a.blur)
    sigmas = rng.choice(np.asarray(a.blur_sigmas, dtype=np.float64), size=b)
    for sigma in np.unique(sigmas[blur]):
        rows = torch.from_numpy(np.flatnonzero(blur & (sigmas == sigma)))
        x[rows] = TF.gaussian_blur(x[rows], [5, 5], [float(sigma), float(sigma)])

    # Exposure and white balance: torchvision's definitions, with one factor per chip.
    def grey(t: torch.Tensor) -> torch.Tensor:
        return TF.rgb_to_grayscale(t.clamp(0, 255))

    x = x * draw(1 - a.brightness, 1 + a.brightness).view(-1, 1, 1, 1)
    c = draw(1 - a.contrast, 1 + a.contrast).view(-1, 1, 1, 1)
    x = c * x + (1 - c) * grey(x).mean(dim=(1, 2, 3), keepdim=True)
    s = draw(1 - a.saturation, 1 + a.saturation).view(-1, 1, 1, 1)
    x = s * x + (1 - s) * grey(x)
    gains = rng.uniform(1 - a.white_balance, 1 + a.white_balance, size=(b, 3)).astype(np.float32)
    x = x * torch.from_numpy(gains).view(b, 3, 1, 1)

    sigma = draw(*a.noise_sigma) * torch.from_numpy(chance(a.noise).astype(np.float32))
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    x = x + torch.randn(x.shape, generator=generator) * sigma.view(-1, 1, 1, 1)

    out = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    compress = chance(a.jpeg)
    qualities = rng.choice(np.asarray(a.jpeg_qualities), size=b)
    for i in np.flatnonzero(compress):
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(out[i, :, :, ::-1]),
                                [cv2.IMWRITE_JPEG_QUALITY, int(qualities[i])])
        out[i] = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.where(changed[:, None, None, None], out, chips)


# -- the network split: frozen trunk, trainable stage, head ------------------------------------------------

def trunk_features(network: SFaceNet, chips: np.ndarray, cancel: threading.Event | None = None,
                   batch_size: int = _EMBED_BATCH) -> torch.Tensor:
    """Outputs of the frozen layers, everything before the network's ``tail``.

    Args:
        network: an SFaceNet (not modified).
        chips: (N, 112, 112, 3) uint8 RGB chips.
        cancel: checked between batches; :class:`Cancelled` is raised when set.
        batch_size: chips per forward pass.

    Returns:
        (N, 1024, 7, 7) float32 tensor.

    Raises:
        ValueError: bad chips.
    """
    chips = _check_chips(chips, "chips", 0)
    parts = []
    with torch.inference_mode():
        for i in range(0, len(chips), batch_size):
            _check_cancel(cancel)
            parts.append(network.trunk(chips_to_tensor(chips[i : i + batch_size])))
    if not parts:
        return torch.zeros(0, *TRUNK_SHAPE)
    return torch.cat(parts).clone()  # out of inference mode, so autograd may use it


class Head(nn.Module):
    """The head on the 128-d embedding: ``y = W x + b + MLP(x)``, W = I and b = 0 at first, the MLP's output
    layer zero, so a fresh head is the identity. Input and output (N, 128) float32."""

    def __init__(self, hidden: int = 0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(EMBEDDING_DIM, EMBEDDING_DIM)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(EMBEDDING_DIM))
            self.linear.bias.zero_()
        self.mlp = None
        if hidden:
            self.mlp = nn.Sequential(nn.Linear(EMBEDDING_DIM, hidden), nn.ReLU(), nn.Linear(hidden, EMBEDDING_DIM))
            with torch.no_grad():
                # He initialisation from our generator (determinism without touching torch's global one).
                self.mlp[0].weight.normal_(0.0, math.sqrt(2.0 / EMBEDDING_DIM), generator=generator)
                self.mlp[0].bias.zero_()
                self.mlp[2].weight.zero_()
                self.mlp[2].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 128) float32 unit-length embeddings -> (N, 128) float32 adapted ones (the caller normalises)."""
        y = self.linear(x)
        return y if self.mlp is None else y + self.mlp(x)


class _Adapted(nn.Module):
    """The trainable part: an optional copy of the network's tail, an optional head; outputs are unit
    length. The head acts on unit-length embeddings, as stored in profiles."""

    def __init__(self, network: SFaceNet, stage: bool, head: Head | None) -> None:
        super().__init__()
        # A copy of an eval-mode module stays in eval mode: its batch norms keep the pretrained statistics.
        self.tail = copy.deepcopy(network.tail) if stage else network.tail
        self.train_stage = stage
        self.head = head

    def from_trunk(self, features: torch.Tensor) -> torch.Tensor:
        """(N, 1024, 7, 7) trunk features -> (N, 128) unit-length adapted embeddings."""
        return self.from_embedding(self.tail(features))

    def from_embedding(self, vectors: torch.Tensor) -> torch.Tensor:
        """(N, 128) embeddings (any length) -> (N, 128) unit-length adapted embeddings."""
        vectors = F.normalize(vectors, dim=1)
        if self.head is not None:
            vectors = F.normalize(self.head(vectors), dim=1)
        return vectors

    def trained(self) -> dict[str, nn.Parameter]:
        """The parameters training updates, by the names they are stored under in a profile."""
        params: dict[str, nn.Parameter] = {}
        if self.train_stage:
            params.update({f"tail.{k}": v for k, v in self.tail.named_parameters()})
        if self.head is not None:
            params.update({f"{HEAD_PREFIX}{k}": v for k, v in self.head.named_parameters()})
        return params


# -- the loss ----------------------------------------------------------------------------------------------

def triplet_loss(owner: torch.Tensor, negatives: torch.Tensor, alpha: float = 0.2,
                 mining: str = "semi-hard") -> tuple[torch.Tensor, float]:
    """FaceNet's triplet loss over every ordered anchor-positive pair of ``owner``, negatives mined online.

    Args:
        owner: (P, D) unit-length embeddings of one person, P >= 2.
        negatives: (Q, D) unit-length embeddings of other people, Q >= 1.
        alpha: margin, in squared Euclidean distance.
        mining: ``semi-hard`` (the closest negative farther from the anchor than the positive; the closest
            negative when there is none) or ``hard`` (the closest negative).

    Returns:
        (mean loss over the P * (P - 1) triplets as a 0-d tensor, share of triplets with a loss > 0).

    Raises:
        ValueError: bad shapes or mining.
    """
    if owner.ndim != 2 or negatives.ndim != 2 or owner.shape[1] != negatives.shape[1]:
        raise ValueError(f"need (P, D) and (Q, D) embeddings, got {tuple(owner.shape)}, {tuple(negatives.shape)}")
    if len(owner) < 2 or len(negatives) < 1:
        raise ValueError("need at least 2 owner embeddings and 1 negative")
    if mining not in MINING:
        raise ValueError(f"mining must be one of {MINING}, got {mining!r}")
    # |a - b|^2 = 2 - 2 a.b for unit vectors; clamped because rounding can make it slightly negative.
    d_ap = (2 - 2 * owner @ owner.T).clamp_min(0)  # (P, P)
    d_an = (2 - 2 * owner @ negatives.T).clamp_min(0)  # (P, Q)
    p = len(owner)
    off_diagonal = ~torch.eye(p, dtype=torch.bool)
    d_pos = d_ap[off_diagonal].view(p, p - 1)  # anchor i, its p - 1 positives
    with torch.no_grad():  # which negative to use is a choice, not something to differentiate
        hardest = d_an.argmin(dim=1, keepdim=True).expand(p, p - 1)  # (P, P-1)
        if mining == "hard":
            chosen = hardest
        else:
            farther = d_an[:, None, :] > d_pos[:, :, None]  # (P, P-1, Q)
            masked = torch.where(farther, d_an[:, None, :].expand_as(farther), torch.full_like(farther, math.inf,
                                                                                             dtype=d_an.dtype))
            semi = masked.argmin(dim=2)
            chosen = torch.where(farther.any(dim=2), semi, hardest)
    d_neg = torch.gather(d_an, 1, chosen)  # (P, P-1)
    losses = F.relu(d_pos - d_neg + alpha)
    return losses.mean(), float((losses > 0).float().mean())


# -- training ----------------------------------------------------------------------------------------------

def train_owner(network: SFaceNet, owner_chips: np.ndarray, *, not_me_chips: np.ndarray | None = None,
                negative_embeddings: np.ndarray | None = None, background: BackgroundModel | None = None,
                config: TrainingConfig = TrainingConfig(), progress: Callable[[Progress], None] | None = None,
                cancel: threading.Event | None = None) -> TrainingResult:
    """Adapt the pretrained network to one owner with FaceNet's triplet loss.

    Owner chips are augmented (:func:`augment`) and pushed through the frozen layers once
    (:func:`trunk_features`); each step then draws ``batch_size`` owner samples and ``negatives_per_batch``
    negatives and takes an Adam step on the triplet loss (:func:`triplet_loss`), plus the L2-SP penalty
    when ``config.anchor_weight`` is not 0.
    Negatives fill a batch in this order of preference, each kind taking at most its share when a later
    kind is present, so the population is always represented: "not me" chips (augmented; up to half the
    slots), other profiles' templates (up to half of what is left), background-model samples (the rest).

    Args:
        network: the pretrained SFaceNet; never modified (what is trained is copied).
        owner_chips: (N, 112, 112, 3) uint8 RGB chips of the owner, N >= 2 (typically 5-20).
        not_me_chips: (M, 112, 112, 3) uint8 RGB chips of other people the user added, or None.
        negative_embeddings: (K, 128) finite embeddings of other people (other profiles' templates), or
            None. Not used by the ``stage`` variant.
        background: population model whose samples serve as synthetic negatives, or None. Not used by the
            ``stage`` variant.
        config: hyper-parameters.
        progress: called after every step with a :class:`Progress`, in the calling thread.
        cancel: when set, training stops within a fraction of a second and the result has
            ``cancelled=True``, an empty adapter and no templates.

    Returns:
        A :class:`TrainingResult`. Deterministic for a given config (seed), inputs and torch thread count.

    Raises:
        ValueError: chips not (N, 112, 112, 3) uint8, fewer than 2 owner chips, negative embeddings not
            (K, 128) finite, no negative that the variant can use.
    """
    started = time.perf_counter()
    owner_chips = _check_chips(owner_chips, "owner_chips", 2)
    not_me = _check_chips(not_me_chips, "not_me_chips", 0) if not_me_chips is not None else owner_chips[:0]
    vectors = np.zeros((0, EMBEDDING_DIM), np.float32)
    if negative_embeddings is not None:
        vectors = np.asarray(negative_embeddings, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != EMBEDDING_DIM or not np.isfinite(vectors).all():
            raise ValueError(f"negative_embeddings must be finite of shape (K, {EMBEDDING_DIM}), got {vectors.shape}")
    use_vectors = config.variant != "stage"
    if use_vectors and background is not None and config.background_negatives:
        drawn = background.sample_images(config.background_negatives, np.random.default_rng([config.seed, 1]))
    else:
        drawn = np.zeros((0, EMBEDDING_DIM))
    if not use_vectors:
        vectors = vectors[:0]
    if len(not_me) == 0 and len(vectors) == 0 and len(drawn) == 0:
        needed = "not_me_chips" if config.variant == "stage" else "not_me_chips, negative_embeddings or background"
        raise ValueError(f"no negatives for variant {config.variant!r}: give {needed}")

    rng = np.random.default_rng([config.seed, 0])
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    active: list[float] = []
    try:
        owner = trunk_features(network, augment(owner_chips, config.augmentations_per_image, rng,
                                                config.augmentation, cancel), cancel)
        originals = owner[:: config.augmentations_per_image]
        negative_trunk = trunk_features(network, augment(not_me, config.not_me_augmentations, rng,
                                                         config.augmentation, cancel), cancel)
        head = Head(config.hidden, generator) if config.variant != "stage" else None
        model = _Adapted(network, config.variant != "head", head)
        with torch.no_grad():
            if config.variant == "head":
                # The stage is frozen: embed once, train the head on the 128-d vectors.
                owner = model.tail(owner)
                negative_trunk = model.tail(negative_trunk)
        pool_vectors = torch.from_numpy(np.concatenate([vectors, drawn.astype(np.float32)]))
        counts = _negative_counts(config.negatives_per_batch, len(negative_trunk), len(vectors), len(drawn))

        params = model.trained()
        start = {k: v.detach().clone() for k, v in params.items()}
        groups = [{"params": [v for k, v in params.items() if k.startswith(HEAD_PREFIX)], "lr": config.learning_rate},
                  {"params": [v for k, v in params.items() if not k.startswith(HEAD_PREFIX)],
                   "lr": config.stage_learning_rate}]
        optimiser = torch.optim.Adam([g for g in groups if g["params"]])
        embed_owner = model.from_embedding if config.variant == "head" else model.from_trunk
        train_started = time.perf_counter()
        for step in range(config.steps):
            _check_cancel(cancel)
            rows = rng.choice(len(owner), size=min(config.batch_size, len(owner)), replace=False)
            parts = [embed_owner(owner[rows])]
            if counts[0]:
                parts.append(embed_owner(negative_trunk[rng.choice(len(negative_trunk), counts[0], replace=False)]))
            picks = np.concatenate([rng.choice(len(vectors), counts[1], replace=False),
                                    len(vectors) + rng.choice(len(drawn), counts[2], replace=False)]).astype(np.int64)
            if len(picks):
                parts.append(model.from_embedding(pool_vectors[torch.from_numpy(picks)]))
            loss, share = triplet_loss(parts[0], torch.cat(parts[1:]), config.alpha, config.mining)
            total = loss
            if config.anchor_weight:
                total = total + config.anchor_weight * sum(((v - start[k]) ** 2).sum() for k, v in params.items())
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            active.append(share)
            if progress is not None:
                now = time.perf_counter()
                per_step = (now - train_started) / (step + 1)
                progress(Progress(step + 1, config.steps, losses[-1], share, now - started,
                                  per_step * (config.steps - step - 1)))
        _check_cancel(cancel)
        with torch.no_grad():
            templates = model.from_trunk(originals).numpy().astype(np.float32)
        adapter = {k: v.detach().clone().float().contiguous() for k, v in params.items()}
        cancelled = False
    except Cancelled:
        adapter, templates, cancelled = {}, np.zeros((0, EMBEDDING_DIM), np.float32), True
    return TrainingResult(adapter, templates, losses, active, cancelled, time.perf_counter() - started, config)


def _negative_counts(slots: int, chips: int, templates: int, drawn: int) -> tuple[int, int, int]:
    """Negatives per batch of each kind, in order of preference: chips, templates, background samples.

    Each kind takes at most half of the slots left when a later kind is present, so the population the
    background model stands for is never crowded out; slots a small pool cannot fill go to the others.
    """
    counts = [0, 0, 0]
    sizes = (chips, templates, drawn)
    left = slots
    for kind, size in enumerate(sizes):
        later = any(sizes[kind + 1 :])
        counts[kind] = min(size, left // 2 if later else left)
        left -= counts[kind]
    for kind, size in enumerate(sizes):  # give unused slots back in order of preference
        extra = min(size - counts[kind], left)
        counts[kind] += extra
        left -= extra
    return counts[0], counts[1], counts[2]


# -- using an adapter --------------------------------------------------------------------------------------

class AdaptedEmbedder:
    """A pretrained network plus an adapter from :func:`train_owner`: chips in, adapted embeddings out.

    Args:
        network: the pretrained SFaceNet the adapter was trained from; not modified (copied when the
            adapter changes its layers).
        adapter: a :attr:`TrainingResult.adapter` (e.g. read back with ``safetensors.torch.load_file``).
        model_id: identifies the pretrained weights; :attr:`model_id` adds the adapter's hash to it.
        batch_size: chips per forward pass.

    Raises:
        ValueError: an empty adapter, unknown parameter names, or shapes that do not fit.
    """

    def __init__(self, network: SFaceNet, adapter: dict[str, torch.Tensor], model_id: str = "",
                 batch_size: int = 32) -> None:
        if not adapter:
            raise ValueError("empty adapter (was training cancelled?)")
        head_keys = {k for k in adapter if k.startswith(HEAD_PREFIX)}
        net_keys = set(adapter) - head_keys
        head = None
        if head_keys:
            hidden = int(adapter["head.mlp.0.weight"].shape[0]) if "head.mlp.0.weight" in adapter else 0
            head = Head(hidden)
            _load(head, {k[len(HEAD_PREFIX):]: v for k, v in adapter.items() if k in head_keys}, "head")
        if net_keys:
            network = copy.deepcopy(network)
            _load(network, {k: adapter[k] for k in net_keys}, "network", partial=True)
        self.network = network.eval()
        self._model = _Adapted(self.network, False, head).eval()
        self.changes_network = bool(net_keys)
        self.model_id = f"{model_id}+adapter:{adapter_id(adapter)}"
        self.batch_size = batch_size

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Embed face chips in the adapted space.

        Args:
            chips: (N, 112, 112, 3) uint8 RGB chips (or one (112, 112, 3) chip).

        Returns:
            (N, 128) float32 unit-length embeddings; compare them with :data:`ADAPTED_THRESHOLD`.

        Raises:
            ValueError: wrong chip shape or dtype.
        """
        x = chips_to_tensor(chips)
        if len(x) == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        with torch.inference_mode():
            parts = [self._model.from_embedding(self.network(x[i : i + self.batch_size]))
                     for i in range(0, len(x), self.batch_size)]
        return torch.cat(parts).numpy().astype(np.float32, copy=False)

    def from_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        """Adapted embeddings from pretrained ones, for an adapter that only has a head.

        Args:
            vectors: (N, 128) embeddings from the pretrained network.

        Returns:
            (N, 128) float32 unit-length embeddings.

        Raises:
            ValueError: the adapter changes the network (re-embed the chips instead), or a bad shape.
        """
        if self.changes_network:
            raise ValueError("this adapter changes the network: embed the chips, not pretrained embeddings")
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != EMBEDDING_DIM:
            raise ValueError(f"embeddings must be (N, {EMBEDDING_DIM}), got {vectors.shape}")
        with torch.inference_mode():
            return self._model.from_embedding(torch.from_numpy(vectors)).numpy().astype(np.float32)

    def from_trunk(self, features: torch.Tensor) -> np.ndarray:
        """Adapted embeddings from :func:`trunk_features` of the pretrained network: (N, 1024, 7, 7) ->
        (N, 128) float32 unit length. Lets a benchmark re-embed many images without the frozen layers."""
        with torch.inference_mode():
            return self._model.from_trunk(features).numpy().astype(np.float32)


def adapter_id(adapter: dict[str, torch.Tensor]) -> str:
    """First 16 hex digits of the SHA-256 of an adapter's names, shapes and bytes (sorted by name)."""
    digest = hashlib.sha256()
    for name in sorted(adapter):
        tensor = adapter[name].detach().cpu().float().contiguous()
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def _load(module: nn.Module, tensors: dict[str, torch.Tensor], what: str, partial: bool = False) -> None:
    own = dict(module.named_parameters())
    unknown = sorted(set(tensors) - set(own))
    if unknown:
        raise ValueError(f"adapter: unknown {what} parameters {unknown[:3]}")
    if not partial and set(own) - set(tensors):
        raise ValueError(f"adapter: missing {what} parameters {sorted(set(own) - set(tensors))[:3]}")
    with torch.no_grad():
        for name, value in tensors.items():
            if tuple(value.shape) != tuple(own[name].shape):
                raise ValueError(f"adapter: {name} has shape {tuple(value.shape)}, expected {tuple(own[name].shape)}")
            own[name].copy_(value)


# -- checks ------------------------------------------------------------------------------------------------

def _check_chips(chips: np.ndarray | None, name: str, minimum: int) -> np.ndarray:
    chips = np.asarray(chips)
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"{name} must be uint8 of shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), "
                         f"got {chips.dtype} {chips.shape}")
    if len(chips) < minimum:
        raise ValueError(f"{name}: need at least {minimum} chips, got {len(chips)}")
    return chips


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled
