"""On-device adaptation (faceid_desktop.training): training time, and accuracy on the owner protocol beside the
pretrained network, in one run.

Training time: ``train_owner`` on 2 torch threads, median of 3 runs, for 5 and for 20 enrollment images of
one LFW identity with >= 20 images (George_W_Bush's first 20 enrollable images), with the 20 "not me" chips
and the background model below as negatives; augmentation and embedding included.

Accuracy: the owner protocol (../shared/faces/README.md; benchmarks/owner_protocol.py) on lfw-devtrain, on a
deterministic subset of owners (every ``--every``-th of the 111 identities with >= 10 images, by name): the
default third takes about 25 minutes on 2 cores, all 111 would take over an hour, mostly for the variants
that change the network (``--every 1 --only "head (default)"`` runs all 111 for the pretrained columns and
the default head in about 2 minutes). Every column uses the same owners and probes:

* each owner's first 5 images (those passing enrollment's checks) are enrolled, its other images are genuine
  probes, every image of every other identity is an impostor probe; an image without a usable face is a
  failure to acquire (+inf: a reject);
* "not me" negatives: the first image of each of 20 identities drawn with seed 0 from those with fewer than 10
  images (so never an owner); those 20 identities are left out of the impostor probes of every column, so
  no negative the adaptation saw is scored;
* the background model (assets/background_model.npz) supplies the synthetic negatives;
* pretrained embeddings come from owner_protocol's per-image cache (computed by the same code as the CLI);
  a head on the 128-d embedding is applied to them directly; a variant that changes the network re-embeds
  every probe from cached outputs of the frozen layers (1024 x 7 x 7 per image, computed once and cached in
  the user cache directory, ~1.9 GB for all images), so its cost per owner is training plus one pass of the tail;
* scores: the profile's measure, verification.distance_to_profile (the unit-length probe to the unit-length
  mean of the unit-length templates), one global threshold.

The second column needs no training: it is how profiles are scored by default.

    python benchmarks/training.py [--every 3] [--workers 2] [--skip-timing] [--only head,stage]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import owner_protocol  # noqa: E402  (the protocol's listing and its per-image embedding cache)

from faceid_desktop.background import BackgroundModel  # noqa: E402
from faceid_desktop.datasets import data_dir, lfw_dir  # noqa: E402
from faceid_desktop.metrics import eer, eer_value, frr_at_far  # noqa: E402
from faceid_desktop.network import TRUNK_SHAPE  # noqa: E402
from faceid_desktop.training import (  # noqa: E402
    AdaptedEmbedder,
    Augmentation,
    TrainingConfig,
    train_owner,
    trunk_features,
)
from faceid_desktop.verification import distances  # noqa: E402
from faceid_desktop.weights import default_cache_dir, load_pretrained  # noqa: E402

NOT_ME_IDENTITIES = 20
TIMING_PERSON = "George_W_Bush"
THREADS = 2


@dataclass
class System:
    """One column: a name, and either a fixed embedding or a training configuration."""

    name: str
    config: TrainingConfig | None = None
    normalise: bool = False
    use_not_me: bool = True
    seconds: list[float] = field(default_factory=list)


def systems() -> list[System]:
    default = TrainingConfig()
    return [
        System("pretrained, mean of unit", normalise=True),
        System("head (default)", default),
        System("head, seed 1", replace(default, seed=1)),
        System("head, seed 2", replace(default, seed=2)),
        System("head, no 'not me' chips", default, use_not_me=False),
        System("head, no augmentation", replace(default, augmentation=Augmentation.none())),
        System("head, lr 3e-4", replace(default, learning_rate=3e-4)),
        System("head, lr 3e-3", replace(default, learning_rate=3e-3)),
        System("head + MLP 128", replace(default, hidden=128)),
        System("head, L2-SP 0.1", replace(default, anchor_weight=0.1)),
        System("stage", replace(default, variant="stage")),
        System("stage, seed 1", replace(default, variant="stage", seed=1)),
        System("stage, lr 3e-5", replace(default, variant="stage", stage_learning_rate=3e-5)),
        System("both", replace(default, variant="both")),
    ]


# -- chips and frozen-layer features, in worker processes ---------------------------------------------------

_STATE: dict = {}


def _init(threads: int) -> None:
    from faceid_desktop.pipeline import default_pipeline
    from faceid_desktop.threads import configure_threads

    configure_threads(threads)
    _STATE["pipeline"] = default_pipeline()


def _chip(path: str) -> np.ndarray | None:
    """The chip of the face ``faceid verify`` compares (as verification.find_probe picks it), or None."""
    from faceid_desktop.images import ImageError, read_rgb
    from faceid_desktop.pipeline import Embedding
    from faceid_desktop.verification import face_problem, primary_face

    try:
        image = read_rgb(path)
    except ImageError:
        return None
    faces = _STATE["pipeline"].detector.detect(image)
    if not faces:
        return None
    face = primary_face(faces, image.shape)
    # face_problem looks at the box and the chip only: no embedding is needed to rule a face out.
    probe = Embedding(face, np.zeros(128, np.float32), _STATE["pipeline"].chip(image, face))
    return None if face_problem(probe) else probe.chip


def chips_of(paths: list[Path], workers: int) -> list[np.ndarray | None]:
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(max(1, THREADS // workers),)) as pool:
        return list(pool.map(_chip, [str(p) for p in paths], chunksize=16))


def check_chips(network, chips: np.ndarray, vectors: np.ndarray) -> None:
    """The chips must be the ones the cached embeddings were computed from."""
    with torch.inference_mode():
        from faceid_desktop.network import chips_to_tensor

        again = torch.nn.functional.normalize(network(chips_to_tensor(chips)), dim=1).numpy()
    worst = float(np.abs(again - vectors).max()) if len(chips) else 0.0
    if worst > 1e-4:
        raise RuntimeError(f"chips do not reproduce the cached embeddings (max difference {worst:.2e})")


def frozen_features(network, paths: list[Path], rows: np.ndarray, vectors: np.ndarray, fingerprint: str,
                    workers: int) -> torch.Tensor:
    """(len(rows), 1024, 7, 7) float32 outputs of the frozen layers (SFaceNet.trunk) for the usable images
    ``rows``, cached (about 200 kB per image)."""
    digest = hashlib.sha1("\n".join(owner_protocol.file_key(paths[r]) for r in rows).encode()).hexdigest()[:12]
    cache = default_cache_dir() / "benchmarks" / f"trunk-{fingerprint}-{digest}.npy"
    if cache.is_file():
        features = np.load(cache)
        if features.shape == (len(rows), *TRUNK_SHAPE):
            return torch.from_numpy(features)
    started = time.perf_counter()
    print(f"  frozen-layer features for {len(rows)} images (once; cached in {cache.parent})", file=sys.stderr)
    features = np.zeros((len(rows), *TRUNK_SHAPE), np.float32)
    for start in range(0, len(rows), 512):
        part = rows[start : start + 512]
        chips = chips_of([paths[r] for r in part], workers)
        if any(c is None for c in chips):
            raise RuntimeError("an image usable in owner_protocol's cache gave no face here")
        chips = np.stack(chips)
        features[start : start + len(part)] = trunk_features(network, chips, batch_size=64).numpy()
        with torch.inference_mode():
            tail = torch.nn.functional.normalize(network.tail(torch.from_numpy(features[start : start + len(part)])), dim=1)
        worst = float(np.abs(tail.numpy() - vectors[part]).max())
        if worst > 1e-4:
            raise RuntimeError(f"frozen features do not reproduce the cached embeddings ({worst:.2e})")
        print(f"  {start + len(part)}/{len(rows)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, features)
    tmp.replace(cache)
    return torch.from_numpy(features)


# -- the two parts --------------------------------------------------------------------------------------------

def timing(network, people, usable_enroll, index, vectors, not_me_chips, background, workers) -> None:
    images = [p for p in people[TIMING_PERSON] if usable_enroll[index[p]]][:20]
    chips = chips_of(images, workers)
    chips = np.stack([c for c in chips if c is not None])
    check_chips(network, chips, vectors[[index[p] for p in images]])
    torch.set_num_threads(THREADS)
    print(f"\nTraining time on {THREADS} threads, median of 3 ({TIMING_PERSON}; {len(not_me_chips)} 'not me' chips "
          f"and the background model as negatives; load average before: {os.getloadavg()[0]:.2f})")
    print(f"{'variant':<12}{'5 images':>12}{'20 images':>12}")
    for variant in ("head", "stage", "both"):
        row = []
        for count in (5, 20):
            runs = [train_owner(network, chips[:count], not_me_chips=not_me_chips, background=background,
                                config=TrainingConfig(variant=variant)).seconds for _ in range(3)]
            row.append(statistics.median(runs))
        print(f"{variant:<12}{row[0]:>11.1f}s{row[1]:>11.1f}s")
    print(f"(load average after: {os.getloadavg()[0]:.2f}; other processes on the machine slow these figures)")


def accuracy(network, people, paths, index, vectors, usable, enrollable, owners, excluded, not_me_chips,
             background, columns: list[System], workers: int, fingerprint: str) -> None:
    needs_trunk = any(c.config is not None and c.config.variant != "head" for c in columns)
    usable_rows = np.flatnonzero(usable)
    position = np.full(len(paths), -1)
    position[usable_rows] = np.arange(len(usable_rows))
    trunk = (frozen_features(network, paths, usable_rows, vectors, fingerprint, workers) if needs_trunk
             else None)
    enroll_rows = {name: [index[p] for p in people[name][: owner_protocol.ENROLL_IMAGES] if enrollable[index[p]]]
                   for name in owners}
    few = [name for name in owners if len(enroll_rows[name]) < 2]
    if few:  # training needs two faces (as the wizard and `faceid train` do): such owners are left out
        print(f"  left out (fewer than 2 enrollable images, cannot be trained): {', '.join(few)}", file=sys.stderr)
        owners = [name for name in owners if name not in few]
    flat = [r for name in owners for r in enroll_rows[name]]
    chip_list = chips_of([paths[r] for r in flat], workers)
    enroll_chips = dict(zip(flat, chip_list))
    check_chips(network, np.stack([enroll_chips[r] for r in flat]), vectors[flat])
    torch.set_num_threads(THREADS)

    genuine = {c.name: [] for c in columns}
    impostor = {c.name: [] for c in columns}
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    for k, name in enumerate(owners):
        rows = np.array([index[p] for p in people[name]])
        probes = rows[owner_protocol.ENROLL_IMAGES :]
        others = np.flatnonzero(~excluded & ~np.isin(np.arange(len(paths)), rows))
        enrolled = enroll_rows[name]
        for column in columns:
            if not enrolled:
                embed, templates = None, None
            elif column.config is None:
                space = unit if column.normalise else vectors
                embed, templates = (lambda r, s=space: s[r]), space[enrolled]
            else:
                result = train_owner(network, np.stack([enroll_chips[r] for r in enrolled]),
                                     not_me_chips=not_me_chips if column.use_not_me else None,
                                     background=background, config=column.config)
                column.seconds.append(result.seconds)
                adapted = AdaptedEmbedder(network, result.adapter)
                if adapted.changes_network:
                    embed = lambda r, a=adapted: a.from_trunk(trunk[torch.from_numpy(position[r])])  # noqa: E731
                else:
                    embed = lambda r, a=adapted: a.from_embeddings(vectors[r])  # noqa: E731
                templates = result.templates
            for probe_rows, out in ((probes, genuine), (others, impostor)):
                d = np.full(len(probe_rows), np.inf)
                ok = usable[probe_rows]
                if embed is not None and ok.any():
                    measure = "mean" if column.config is not None or column.normalise else "raw mean"
                    d[ok] = distances(embed(probe_rows[ok]), templates, measure)
                out[column.name].append(d)
        print(f"  owner {k + 1}/{len(owners)} {name} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    g0 = np.concatenate(genuine[columns[0].name])
    i0 = np.concatenate(impostor[columns[0].name])
    print(f"\nOwner protocol, {len(owners)} owners, {len(g0)} genuine and {len(i0)} impostor probes per column "
          f"(one genuine probe = {1 / len(g0):.2%})")
    header = f"{'system':<28}" + "".join(f"{f'FRR@{far:.0e}':>14}" for far in owner_protocol.TARGET_FARS)
    print(header + f"{'thr@1e-5':>10}{'EER':>8}{'train s':>9}")
    for column in columns:
        g, i = np.concatenate(genuine[column.name]), np.concatenate(impostor[column.name])
        points = [frr_at_far(g, i, far) for far in owner_protocol.TARGET_FARS]
        cells = "".join(f"{p.frr:.2%} ({round(p.frr * len(g))})".rjust(14) for p in points)
        seconds = f"{statistics.median(column.seconds):>9.1f}" if column.seconds else f"{'-':>9}"
        print(f"{column.name:<28}{cells}{points[2].threshold:>10.4f}{eer_value(eer(g, i)):>8.2%}{seconds}")
    print("(in brackets: genuine probes rejected; thresholds are distances between unit vectors)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--every", type=int, default=3, help="every N-th owner by name (default 3; 1 = all 111)")
    parser.add_argument("--workers", type=int, default=2, help="processes for face detection (default 2)")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--only", help="comma-separated column name prefixes to run, beside the pretrained ones")
    args = parser.parse_args(argv)
    shared = data_dir()
    if shared is None:
        print("training: shared data folder not found (set FACEID_DATA)", file=sys.stderr)
        return 2
    root = lfw_dir(shared)
    started = time.perf_counter()
    people = owner_protocol.list_dataset(root)
    paths = [p for images in people.values() for p in images]
    index = {p: i for i, p in enumerate(paths)}
    fingerprint = owner_protocol.code_fingerprint()
    embedded = owner_protocol.embed_all("ours", paths, args.workers, fingerprint)
    vectors = embedded.vectors
    usable = (embedded.verify == "") & ~np.isnan(vectors).any(axis=1)
    # single-face enrollment photos only: training needs each template's chip, which the cache holds for the
    # largest face (group photos, whose owner enrollment picks among several faces, are left out here)
    enrollable = (embedded.enroll == "") & ~np.isnan(vectors).any(axis=1)

    network, _ = load_pretrained()
    background = BackgroundModel.load()
    rng = np.random.default_rng(0)
    small = sorted(n for n, images in people.items()
                   if len(images) < owner_protocol.MIN_IMAGES and usable[index[images[0]]])
    not_me_names = sorted(rng.choice(small, NOT_ME_IDENTITIES, replace=False))
    not_me_rows = [index[people[n][0]] for n in not_me_names]
    not_me_chips = np.stack(chips_of([paths[r] for r in not_me_rows], args.workers))
    check_chips(network, not_me_chips, vectors[not_me_rows])
    names = np.array([p.parent.name for p in paths])
    excluded = np.isin(names, not_me_names)

    if not args.skip_timing:
        timing(network, people, enrollable, index, vectors, not_me_chips, background, args.workers)

    all_owners = [n for n, images in people.items() if len(images) >= owner_protocol.MIN_IMAGES]
    owners = all_owners[:: args.every]
    columns = systems()
    if args.only:
        prefixes = tuple(p for p in args.only.split(",") if p)
        columns = [c for c in columns if c.config is None or c.name.startswith(prefixes)]
    print(f"\nAccuracy: owners {len(owners)} of {len(all_owners)} (one in {args.every}, by name); 'not me' chips: "
          f"first image of {', '.join(not_me_names)} (left out of the impostors)")
    accuracy(network, people, paths, index, vectors, usable, enrollable, owners, excluded, not_me_chips,
             background, columns, args.workers, fingerprint)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
