"""What a user enrolls: a profile of templates and the settings its decisions are made with (pure data)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace

import numpy as np

#: Profile names: letters (of any script), digits, '.', '_' and '-', 1 to 64 characters, starting with a
#: letter, digit or '_' (not '.', a hidden file, nor '-', which a command line would take for an option).
# \w is Unicode's (the characters str.isalnum() accepts, and '_'): never a path separator, space, control
# or invisible formatting character, so a name is always a safe file name.
# \Z, not $: "$" also matches before a trailing newline, which would let "me\n" pass as a second "me".
NAME_PATTERN = re.compile(r"^\w[\w.-]{0,63}\Z")
#: Longest name in UTF-8 bytes: 64 letters of 3 bytes each; with the longest suffix the store adds
#: (".<16 hex>.safetensors") a file name stays within the usual 255-byte limit.
MAX_NAME_BYTES = 192


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid profile name.

    Raises:
        ValueError: the name is empty, too long, starts with '.' or '-', holds characters other than
            letters, digits, '.', '_' and '-' (so that it is always a safe file name), or is not in Unicode
            NFC form (an accented letter written as a letter and a combining accent: two names that look
            the same must be one).
    """
    if isinstance(name, str) and not unicodedata.is_normalized("NFC", name):
        raise ValueError(f"invalid profile name {name!r}: write accented letters as one character each "
                         "(Unicode NFC form)")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or len(name.encode()) > MAX_NAME_BYTES:
        # a pasted paragraph is not echoed whole: the one-line error must stay one readable line
        long = isinstance(name, str) and len(name) > 70
        shown = f"{name[:60]!r}... ({len(name)} characters)" if long else repr(name)
        raise ValueError(
            f"invalid profile name {shown}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter, digit or '_'"
        )
    return name


#: A template recorded from a video or camera frame: ``SOURCE#t=12.34`` (seconds into the stream).
_FRAME_SOURCE = re.compile(r"^(?P<source>.+)#t=(?P<t>\d+(?:\.\d+)?)$")


def frame_source(source: str, seconds: float) -> str:
    """A :attr:`Template.source` for a frame ``seconds`` into a stream (a video path, ``camera:0``)."""
    return f"{source}#t={seconds:.2f}"


def split_source(source: str) -> tuple[str, float | None]:
    """(the input, seconds into it) of a :attr:`Template.source`; seconds None for a photo."""
    match = _FRAME_SOURCE.match(source)
    return (match.group("source"), float(match.group("t"))) if match else (source, None)


@dataclass(frozen=True)
class Template:
    """One enrollment sample.

    Attributes:
        embedding: (128,) float32 unit-length embedding (SFace).
        captured_at: capture time, seconds since the Unix epoch.
        source: where it came from: a file path, ``path#t=12.34`` for a video frame, ``camera:0``.
        quality: 0..1 quality score of the frame it came from (sharpness, pose, light); 1 is best.
    """

    embedding: np.ndarray = field(repr=False)
    captured_at: float
    source: str
    quality: float

    def __post_init__(self) -> None:
        vector = np.array(self.embedding, dtype=np.float32)  # a private copy, frozen below
        if vector.shape != (128,) or not np.isfinite(vector).all():
            raise ValueError(f"a template embedding must be 128 finite numbers, got shape {vector.shape}")
        if not 0.0 <= self.quality <= 1.0:
            raise ValueError(f"template quality must be in [0, 1], got {self.quality}")
        vector.flags.writeable = False
        object.__setattr__(self, "embedding", vector)


#: Decision rules (:attr:`DecisionSettings.rule`).
RULES = ("threshold", "alpha")

#: Default distance threshold of a profile without an adapter: FAR about 1e-5 (1 stranger's photo in
#: 100,000 accepted; the threshold there is 0.933) on the owner protocol, where it rejects about 0.8% of the
#: owners' photos (benchmarks/owner_protocol.py, distance of the unit-length probe to the profile's centre).
DEFAULT_THRESHOLD = 0.93
#: Largest distance between unit vectors (opposite directions).
MAX_DISTANCE = 2.0
#: Smallest distance threshold a profile may have (a stricter one would reject its owner every time).
MIN_THRESHOLD = 0.05


@dataclass(frozen=True)
class DecisionSettings:
    """How probes are decided against a profile.

    Attributes:
        threshold: accept when the probe's distance to the profile is at most this (Euclidean distance
            between unit-length embeddings, 0 to 2; see verification.distance_to_profile).
        alpha: margin of the alpha (cohort) rule, a distance: with ``rule="alpha"`` a probe is accepted only
            when, besides the threshold, d(probe, owner) + alpha <= d(probe, nearest cohort negative).
        rule: ``threshold`` or ``alpha``.
        frames_to_accept: M of the multi-frame rule: accept a stream when M of the last N frames match.
        window: N of the multi-frame rule (frames).
        timeout: seconds a stream may take before it is rejected.
    """

    threshold: float = DEFAULT_THRESHOLD
    # 0.1: on the owner protocol (benchmarks/scoring.py) alpha 0.05 and 0.10 cost the owners nothing at FAR
    # 1e-5 (0.85%, as the threshold alone); 0.20, the tutorial's triplet margin, rejected 1.07% at every FAR
    alpha: float = 0.1
    rule: str = "threshold"
    frames_to_accept: int = 2
    window: int = 5
    timeout: float = 4.0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        for name in ("frames_to_accept", "window"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a whole number of frames, got {getattr(self, name)!r}")
        if not 1 <= self.window <= 100:
            raise ValueError(f"window must be 1 to 100 frames, got {self.window}")
        if not MIN_THRESHOLD <= self.threshold <= MAX_DISTANCE:
            raise ValueError(f"threshold must be a distance from {MIN_THRESHOLD} to {MAX_DISTANCE:g}, got {self.threshold}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be a distance from 0 to 1, got {self.alpha}")
        if not 1 <= self.frames_to_accept <= self.window:
            raise ValueError(
                f"frames_to_accept must be between 1 and window ({self.window}), got {self.frames_to_accept}"
            )
        if not 0 < self.timeout <= 3600:
            raise ValueError(f"timeout must be in (0, 3600] seconds, got {self.timeout}")


@dataclass(frozen=True)
class Adapter:
    """An on-device adapter: a 128x128 affine map on the embedding, trained with the triplet loss
    (faceid_desktop.training, variant ``head``); adapted embeddings are ``unit(W x + b)``.

    Attributes:
        weight: (128, 128) float32 W.
        bias: (128,) float32 b.

    Raises:
        ValueError: wrong shapes or non-finite values.
    """

    weight: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        for name, shape in (("weight", (128, 128)), ("bias", (128,))):
            value = np.array(getattr(self, name), dtype=np.float32)
            if value.shape != shape or not np.isfinite(value).all():
                raise ValueError(f"adapter {name} must be {shape} finite numbers, got shape {value.shape}")
            value.flags.writeable = False
            object.__setattr__(self, name, value)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Adapted embeddings: (..., 128) pretrained embeddings -> (..., 128) float64 unit-length vectors."""
        mapped = np.asarray(vectors, dtype=np.float64) @ self.weight.T.astype(np.float64) + self.bias
        norms = np.linalg.norm(mapped, axis=-1, keepdims=True)
        return mapped / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class Profile:
    """An enrolled person.

    Attributes:
        name: the profile's name (see :func:`check_name`).
        model_id: SHA-256 of the weights the templates were made with; templates from other weights are
            meaningless and are refused at load.
        templates: the enrollment samples.
        settings: decision settings.
        created_at, updated_at: seconds since the Unix epoch.
        adapter: the owner's on-device adapter (``faceid train``), or None: templates stay pretrained
            embeddings either way, so dropping the adapter restores the pretrained decision.
    """

    name: str
    model_id: str
    templates: tuple[Template, ...]
    settings: DecisionSettings = DecisionSettings()
    created_at: float = 0.0
    updated_at: float = 0.0
    adapter: Adapter | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.adapter is not None and not isinstance(self.adapter, Adapter):
            raise ValueError(f"adapter must be an Adapter or None, got {type(self.adapter).__name__}")

    @property
    def embeddings(self) -> np.ndarray:
        """(N, 128) float32 matrix of the templates' embeddings."""
        if not self.templates:
            return np.zeros((0, 128), np.float32)
        return np.stack([t.embedding for t in self.templates]).astype(np.float32, copy=False)

    def with_settings(self, **changes: float | str) -> "Profile":
        """A copy with some decision settings changed (validated)."""
        return replace(self, settings=replace(self.settings, **changes))
