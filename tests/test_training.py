"""On-device adaptation with the triplet loss: the loss and its mining, augmentation, training on the seed
photos, cancellation, determinism and bad inputs."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from faceid_desktop.alignment import face_chip
from faceid_desktop.background import BackgroundModel
from faceid_desktop.images import read_rgb
from faceid_desktop.network import SFaceNet, chips_to_tensor
from faceid_desktop.training import (
    ADAPTED_THRESHOLD,
    AdaptedEmbedder,
    Augmentation,
    Progress,
    TrainingConfig,
    _negative_counts,
    augment,
    train_owner,
    triplet_loss,
)
from faceid_desktop.verification import distance_to_profile
from faceid_desktop.weights import load_pretrained

# Small runs where only the mechanics are tested, so the file stays well under a minute.
QUICK = TrainingConfig(steps=6, batch_size=8, negatives_per_batch=16, augmentations_per_image=3,
                       not_me_augmentations=2, background_negatives=64)


@pytest.fixture(scope="module")
def network(cache_dir: Path) -> SFaceNet:
    return load_pretrained(cache_dir)[0]


@pytest.fixture(scope="module")
def seed_chips(shared: Path, pipeline) -> dict[str, np.ndarray]:
    """Chips of the seed photos, cut as the pipeline cuts them (largest face)."""
    chips = {}
    for path in sorted((shared / "faces" / "seed").glob("*/*.jpg")):
        image = read_rgb(path)
        faces = pipeline.detector.detect(image)
        assert faces, f"no face in {path.name}"
        chips[path.stem] = face_chip(image, faces[0].landmarks)
    return chips


def random_chips(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 112, 112, 3), dtype=np.uint8)


def unit(rows: list[list[float]]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


# -- the loss ----------------------------------------------------------------------------------------------

def test_triplet_loss_semi_hard_and_hard_mining():
    # Owner at angles 0 and 0.3 rad (squared distance 2 - 2 cos 0.3 = 0.0887); negatives at 0.2 rad from
    # the first (nearer than the positive: hard), 0.4 rad (semi-hard) and 1.5 rad (easy).
    owner = unit([[1, 0], [np.cos(0.3), np.sin(0.3)]])
    negatives = unit([[np.cos(-0.2), np.sin(-0.2)], [np.cos(-0.4), np.sin(-0.4)], [np.cos(1.5), np.sin(1.5)]])
    d = lambda a, b: 2 - 2 * np.cos(a - b)  # noqa: E731
    alpha = 0.2
    # Anchor 0 (angle 0): positive at 0.3; semi-hard = closest negative farther than it = angle -0.4.
    # Anchor 1 (angle 0.3): positive at 0; negatives at 0.5, 0.7, 1.2 from it, all farther: closest is -0.2.
    semi = [max(0, d(0, 0.3) - d(0, -0.4) + alpha), max(0, d(0.3, 0) - d(0.3, -0.2) + alpha)]
    loss, active = triplet_loss(owner, negatives, alpha, "semi-hard")
    assert float(loss) == pytest.approx(np.mean(semi), abs=1e-6)
    assert active == 1.0
    hard = [max(0, d(0, 0.3) - d(0, -0.2) + alpha), max(0, d(0.3, 0) - d(0.3, -0.2) + alpha)]
    loss, _ = triplet_loss(owner, negatives, alpha, "hard")
    assert float(loss) == pytest.approx(np.mean(hard), abs=1e-6)
    # Far negatives only: no triplet is active.
    loss, active = triplet_loss(owner, unit([[-1, 0]]), alpha)
    assert float(loss) == 0.0 and active == 0.0


def test_triplet_loss_rejects_bad_shapes():
    with pytest.raises(ValueError):
        triplet_loss(unit([[1, 0]]), unit([[0, 1]]))  # one owner embedding: no pair
    with pytest.raises(ValueError):
        triplet_loss(unit([[1, 0], [0, 1]]), torch.zeros(2, 3))
    with pytest.raises(ValueError):
        triplet_loss(unit([[1, 0], [0, 1]]), unit([[1, 1]]), mining="easy")


def test_negative_counts_prefer_chips_and_keep_the_population():
    assert _negative_counts(256, 80, 0, 4096) == (80, 0, 176)
    assert _negative_counts(256, 400, 0, 4096) == (128, 0, 128)
    assert _negative_counts(256, 400, 10, 4096) == (128, 10, 118)
    assert _negative_counts(256, 400, 0, 0) == (256, 0, 0)
    assert _negative_counts(256, 0, 5, 0) == (0, 5, 0)


# -- augmentation ------------------------------------------------------------------------------------------

def test_augment_keeps_the_original_first_and_is_deterministic():
    chips = random_chips(2)
    out = augment(chips, 4, np.random.default_rng(7))
    assert out.shape == (8, 112, 112, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], chips[0])
    np.testing.assert_array_equal(out[4], chips[1])
    assert not np.array_equal(out[1], chips[0])
    np.testing.assert_array_equal(out, augment(chips, 4, np.random.default_rng(7)))
    np.testing.assert_array_equal(augment(chips, 3, np.random.default_rng(1), Augmentation.none()),
                                  np.repeat(chips, 3, axis=0))


# -- bad inputs --------------------------------------------------------------------------------------------

def test_bad_inputs_raise_value_error():
    network = SFaceNet()  # inputs are checked before the network is used
    bg = BackgroundModel.load()
    good = random_chips(3)
    cases = [
        dict(owner_chips=good.astype(np.float32), background=bg),
        dict(owner_chips=good[:, :100], background=bg),
        dict(owner_chips=good[0], background=bg),
        dict(owner_chips=good[:1], background=bg),  # fewer than 2 owner chips
        dict(owner_chips=good, not_me_chips=good[:, :, :, :1]),
        dict(owner_chips=good, negative_embeddings=np.zeros((3, 64))),
        dict(owner_chips=good, negative_embeddings=np.full((3, 128), np.nan)),
        dict(owner_chips=good),  # no negatives at all
        dict(owner_chips=good, background=bg, config=TrainingConfig(variant="stage")),  # stage needs chips
    ]
    for kwargs in cases:
        with pytest.raises(ValueError):
            train_owner(network, **kwargs)
    for bad in (dict(variant="everything"), dict(steps=0), dict(batch_size=1), dict(alpha=-0.1),
                dict(mining="random"), dict(hidden=-1), dict(augmentations_per_image=0)):
        with pytest.raises(ValueError):
            TrainingConfig(**bad)
    with pytest.raises(ValueError, match="empty adapter"):
        AdaptedEmbedder(network, {})
    with pytest.raises(ValueError, match="unknown"):
        AdaptedEmbedder(network, {"tail.nope.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        AdaptedEmbedder(network, {"tail.fc.weight": torch.zeros(3, 3)})


# -- training mechanics ------------------------------------------------------------------------------------

def test_same_seed_same_adapter_and_the_network_is_untouched(network):
    before = {k: v.clone() for k, v in network.state_dict().items()}
    owner, not_me = random_chips(3, 1), random_chips(3, 2)
    bg = BackgroundModel.load()
    for variant in ("head", "both"):
        config = replace(QUICK, variant=variant)
        first = train_owner(network, owner, not_me_chips=not_me, background=bg, config=config)
        again = train_owner(network, owner, not_me_chips=not_me, background=bg, config=config)
        assert first.adapter.keys() == again.adapter.keys() and first.adapter
        for name, tensor in first.adapter.items():
            assert tensor.numpy().tobytes() == again.adapter[name].numpy().tobytes(), name
        np.testing.assert_array_equal(first.templates, again.templates)
        other = train_owner(network, owner, not_me_chips=not_me, background=bg,
                            config=replace(config, seed=1))
        assert any(not torch.equal(v, other.adapter[k]) for k, v in first.adapter.items())
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, before[name]), f"{name} was modified"


def test_adapter_round_trip_and_embedder_agree(network, tmp_path):
    owner, not_me = random_chips(3, 3), random_chips(2, 4)
    config = replace(QUICK, variant="both")
    result = train_owner(network, owner, not_me_chips=not_me, background=BackgroundModel.load(), config=config)
    assert set(result.adapter) >= {"tail.fc.weight", "head.linear.weight", "tail.block.0.0.weight"}
    save_file(result.adapter, tmp_path / "adapter.safetensors")
    embedder = AdaptedEmbedder(network, load_file(tmp_path / "adapter.safetensors"), "model")
    vectors = embedder.embed(owner)
    assert vectors.shape == (3, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, result.templates, atol=1e-5)
    assert embedder.model_id.startswith("model+adapter:")
    with pytest.raises(ValueError, match="changes the network"):
        embedder.from_embeddings(np.zeros((1, 128), np.float32))
    with pytest.raises(ValueError):
        embedder.embed(owner.astype(np.float32))


def test_cancel_returns_quickly_with_cancelled(network):
    owner, not_me = random_chips(4, 5), random_chips(2, 6)
    bg = BackgroundModel.load()
    for phase, config in (
        # Mid-training: cancelled from another thread once steps are running (stage steps are the slowest).
        ("steps", TrainingConfig(variant="stage", steps=100_000, augmentations_per_image=4)),
        # While augmented chips are being embedded (640 chips take seconds).
        ("embedding", TrainingConfig(variant="head", augmentations_per_image=160)),
    ):
        cancel, stepping, outcome = threading.Event(), threading.Event(), {}

        def on_progress(p: Progress) -> None:
            stepping.set()

        def run() -> None:
            outcome["result"] = train_owner(network, owner, not_me_chips=not_me, background=bg, config=config,
                                            progress=on_progress, cancel=cancel)
            outcome["done"] = time.perf_counter()

        worker = threading.Thread(target=run)
        worker.start()
        if phase == "steps":
            assert stepping.wait(60), "training never reached its steps"
        else:
            time.sleep(0.5)
            assert not stepping.is_set()
        cancel.set()
        set_at = time.perf_counter()
        worker.join(10)
        assert not worker.is_alive()
        result = outcome["result"]
        assert result.cancelled and result.adapter == {} and result.templates.shape == (0, 128), phase
        # 2 s, not the ~0.1 s it takes on a quiet machine: a loaded CI core stretches one training step;
        # the uncancelled runs last minutes (100,000 steps, 640 chips), so this still proves the cancel.
        assert outcome["done"] - set_at < 2.0, f"{phase}: returned {outcome['done'] - set_at:.2f} s after cancel"


# -- the seed photos ---------------------------------------------------------------------------------------

def test_training_on_the_seed_photos_keeps_every_decision_right(network, seed_chips):
    me = np.stack([seed_chips[f"ME_{i}"] for i in range(1, 8)])
    not_me = np.stack([chip for name, chip in seed_chips.items() if name.startswith("NOT_ME")])
    reports: list[Progress] = []
    result = train_owner(network, me[:4], not_me_chips=not_me, background=BackgroundModel.load(),
                         progress=reports.append)
    config = result.config
    assert not result.cancelled
    assert len(result.losses) == config.steps and [p.step for p in reports] == list(range(1, config.steps + 1))
    assert all(0 <= p.active_triplets <= 1 and p.remaining >= 0 for p in reports) and reports[-1].remaining == 0
    # SFace already keeps the seed's owner and strangers apart by more than the margin, so the loss may be
    # zero from the start; when it is not, training must bring it down.
    first = np.mean(result.losses[:10])
    assert first == 0 or np.mean(result.losses[-10:]) < 0.5 * first
    assert result.templates.shape == (4, 128) and result.templates.dtype == np.float32

    embedder = AdaptedEmbedder(network, result.adapter)
    genuine = distance_to_profile(embedder.embed(me[4:]), result.templates)
    strangers = distance_to_profile(embedder.embed(not_me), result.templates)
    assert (genuine <= ADAPTED_THRESHOLD).all(), genuine  # ME_5..7 accepted
    assert (strangers > ADAPTED_THRESHOLD).all(), strangers  # every NOT_ME rejected
    if not embedder.changes_network:  # a head alone applies to stored pretrained embeddings too
        with torch.inference_mode():
            raw = network(chips_to_tensor(me[4:])).numpy()
        np.testing.assert_allclose(embedder.from_embeddings(raw), embedder.embed(me[4:]), atol=1e-5)
