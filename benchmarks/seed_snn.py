"""The tutorial's own Siamese network and training, as the baseline: cost and accuracy beside ours, in one run.

What it measures, on the CPU with 2 torch threads:
* training cost: the time of one triplet step of the tutorial's code as written, and the projected wall
  time of its full 10 epochs (triplets x epochs x step time), beside the tutorial's reported 5 hours on an
  8-core PC for 7 + 10 photos (the figure the tutorial's article gives; the repository has no timing);
* a real training run of the tutorial's network on the seed photos (``--epochs``, fractions allowed: the
  full 10 epochs take hours, so the default run is a small fraction of one, and says so), fixed seed;
* the tutorial's test rule on the seed photos (which ME and NOT_ME photos it accepts), before and after
  that training;
* a deterministic sample of the owner protocol (../shared/faces/README.md) on lfw-devtrain: the network is
  trained per owner, as the tutorial trains it for its one owner, with the owner's 5 enrollment images as ME
  and a fixed set of 9 other people's images as NOT_ME (the seed set has 9), then scored on the owner's
  genuine probes and a fixed pool of impostor images. FAR and FRR of the tutorial's rule, FRR at FAR 1e-2
  and the EER, and the same figures for our pipeline (``default_pipeline``, ``distance_to_profile``, the
  default threshold) on the same images.

    python benchmarks/seed_snn.py [--epochs 0.02] [--owners 5] [--genuine 10] [--impostors 100] [--data DIR]

The defaults take about 4-5 minutes on 2 cores shared with other work, and about 4.3 GB of memory (the
116 M-parameter network's weights, gradients, momentum and a copy of the initial weights).

Source: github.com/ScienceKot/SNN, ``TRAIN SNN.ipynb`` (commit 59b9fdf) and ``test.py`` (commit 8f8d7cf).
The tutorial is PyTorch, not Keras: its classes and loss are transcribed here, not translated.
* Network (notebook cell 6, the same in test.py lines 14-36): Conv2d(3,16,3,pad 1) -> MaxPool2d(3, stride 1)
  -> Dropout2d(0.5), the same with 16->32 and 32->64 channels, flatten (64 x 238 x 238 = 3,625,216), Linear
  to 32, Linear to 16. There is no activation function anywhere: apart from max-pooling the embedding is
  an affine map of the pixels. Layer names (typos included) are the tutorial's, so state dicts match.
  Initialisation: torch's defaults, as in the tutorial (it sets none).
* Preprocessing (cell 3 lines 19-21; test.py lines 53-62): PIL ``convert('RGB')``, resize to 244 x 244
  ignoring the aspect ratio (``transforms.Scale``, now ``Resize``, bilinear), ``ToTensor`` (0..1), no
  normalisation, the whole photo (no face detection or crop).
* Triplets (cell 3 lines 9-17): every ordered pair of ME photos (anchor, positive) x every NOT_ME photo,
  shuffled once (``random.shuffle``; seeded here), so every epoch visits them in the same order.
* Loss (cell 7 lines 15-17): ``max(|a-p| - |a-n| + alpha, zeros(1))`` with Python's ``max``, alpha 0.5 in
  training (cell 8 line 9).
* Optimiser (cell 7 line 19): SGD, lr 1e-6, momentum 0.5. The training loop (cell 8 lines 5-11) never calls
  ``zero_grad``: gradients accumulate over all steps, and a step with a clamped (zero) loss still moves the
  weights by the accumulated gradient and momentum. Reproduced, since it is the tutorial's training.
  Dropout is active (the model is never put in eval mode while training), batch size 1.
* Test rule (test.py lines 49-50, 64-77, 95, 99-101): with the model in eval mode, ``loss(frame, ME_1,
  NOT_ME_1, alpha=-0.6)``; the frame is the owner when it is exactly 0, i.e. when
  ``d(frame, ME_1) - d(frame, NOT_ME_1) <= 0.6``. One ME and one NOT_ME reference, nothing else; the
  negative alpha makes it lenient: a frame 0.6 closer to NOT_ME_1 than to ME_1 is still accepted.
  Here probes are photos read by PIL as RGB, as the references are. test.py's camera path feeds OpenCV's
  BGR frames as if RGB (line 85); the seed table also shows photos passed that way. As published, test.py
  never shows a decision: line 107 calls ``function(loss)``, the loss function instead of ``loss_param``,
  and ``.data`` on a function raises AttributeError on the first frame; the rule above is what it meant.
* The notebook's saved log (cell 8) shows 6 steps per epoch: it was run on other folders (IANA/NOT_IANA,
  cell 4), not on the 7 + 10 photos the article times.
Ported for speed only in the training runs and scoring here: the three images of a triplet go through the
network as one batch of 3 (the same gradients up to float rounding; dropout masks are drawn per image
either way), in channels-last memory layout (the same arithmetic; torch's CPU max-pool is ~3x faster in
it). The step time of the code as written is measured separately, and is the one projected.

Owner-protocol sample (deterministic): owners are every (111 // owners)-th of the identities with >= 10
images, by name; each owner's first 5 images are enrolled (ME), its next ``--genuine`` images are genuine
probes (capped to bound the run); NOT_ME are the first images of 9 identities drawn with the seed from
those with < 10 images; the impostor pool is ``--impostors`` images drawn with the seed from every
identity but the sampled owners and those 9, and is scored against every sampled owner. For the
tutorial's rule the owner's first image plays ME_1 and the first NOT_ME image plays NOT_ME_1. Our
pipeline enrolls the owner's first 5 images (those that pass ``enrollment_problem``) and probes through
``select_probe``; an image without a usable face is a failure to acquire (+inf: a reject). The
tutorial's network has no failure to acquire: it scores whole frames. LFW images are centred, face-sized
crops, which favours it compared with webcam frames.

Timings depend on what else runs on the machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torchvision import transforms

from faceid_desktop.datasets import data_dir, lfw_dir, lfw_identities
from faceid_desktop.enrollment import enrollment_problem
from faceid_desktop.images import IMAGE_SUFFIXES, ImageError, read_rgb
from faceid_desktop.metrics import eer, eer_value, frr_at_far, rates_at
from faceid_desktop.profile import DecisionSettings
from faceid_desktop.verification import distance_to_profile, select_probe

SIDE = 244  # cell 3 line 20, test.py line 57
TRAIN_ALPHA = 0.5  # cell 8 line 9
TEST_ALPHA = -0.6  # test.py line 95
LR, MOMENTUM = 1e-6, 0.5  # cell 7 line 19
TUTORIAL_EPOCHS = 10  # cell 8 line 2
TUTORIAL_HOURS, TUTORIAL_CORES, TUTORIAL_ME, TUTORIAL_NOT_ME = 5.0, 8, 7, 10  # the tutorial's reported run
ENROLL_IMAGES, MIN_IMAGES, NOT_ME_COUNT = 5, 10, 9
TARGET_FAR = 1e-2
THREADS = 2


class CNN(nn.Module):
    """The tutorial's network, layer for layer (notebook cell 6, test.py lines 14-36)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=1)
        self.conv1_dropuot = nn.Dropout2d(0.5)
        self.comv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv2_dropuot = nn.Dropout2d(0.5)
        self.maxpool2 = nn.MaxPool2d(3, stride=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3_dropout = nn.Dropout2d(0.5)
        self.maxpool3 = nn.MaxPool2d(3, stride=1)
        self.linear1 = nn.Linear(3625216, 32)
        self.linear2 = nn.Linear(32, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1_dropuot(self.maxpool1(self.conv1(x)))
        out = self.conv2_dropuot(self.maxpool2(self.comv2(out)))
        out = self.conv3_dropout(self.maxpool3(self.conv3(out)))
        # reshape, not the tutorial's view: a channels-last tensor cannot be viewed flat; the order of the
        # flattened features (C, H, W) is the same either way.
        out = out.reshape(out.size(0), -1)
        return self.linear2(self.linear1(out))


def tutorial_loss(tested_out, known_out, non_obj_out, alpha):
    """The tutorial's ``loos``/``loss`` (cell 7 lines 15-17, test.py lines 75-77), Python ``max`` included:
    it returns the tensor ``norm1 - norm2 + alpha`` unless the fresh zeros tensor is larger."""
    norm1 = torch.norm(tested_out - known_out, p=2)
    norm2 = torch.norm(tested_out - non_obj_out, p=2)
    return max(norm1 - norm2 + alpha, torch.zeros(1, requires_grad=True))


def load_tensor(path: Path) -> torch.Tensor:
    """One photo as the tutorial feeds it: (3, 244, 244) float in [0, 1], RGB, whole frame squashed."""
    image = Image.open(path).convert("RGB")
    return transforms.ToTensor()(transforms.Resize((SIDE, SIDE))(image))


def triplets_of(me: list, not_me: list, rng: random.Random) -> list[tuple]:
    """(anchor, positive, negative) as SNN_Dataset builds them (cell 3 lines 9-17), shuffled once."""
    triplets = [(a, p, n) for (a, p), n in itertools.product(itertools.permutations(me, 2), not_me)]
    rng.shuffle(triplets)
    return triplets


def reset(model: CNN, initial: dict) -> None:
    """Back to the initial weights with no gradient, as a freshly built tutorial model."""
    model.load_state_dict(initial)
    for parameter in model.parameters():
        parameter.grad = None


def tutorial_step_times(model: CNN, triplets: list, steps: int) -> list[float]:
    """Seconds per triplet step of the tutorial's loop as written (cell 3 lines 19-21, cell 8 lines 6-11):
    three photos read and resized from disk, three separate forward passes, backward, step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    model.train()
    times = []
    for triplet in triplets[: steps + 1]:
        start = time.perf_counter()
        images = [load_tensor(path) for path in triplet]
        out1, out2, out3 = (model(t.unsqueeze(1).permute(1, 0, 2, 3)) for t in images)
        loss = tutorial_loss(out1, out2, out3, alpha=TRAIN_ALPHA)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times[1:]  # the first step pays one-off allocations


def train(model: CNN, triplets: list, tensors: dict, epochs: float, seed: int) -> tuple[list[float], list[float]]:
    """Train as the tutorial does for ``epochs`` passes over ``triplets`` (a fraction runs the first part of
    one pass). Returns the losses and the seconds of each step."""
    torch.manual_seed(seed)  # dropout masks
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    model.train()
    steps = max(1, round(epochs * len(triplets)))
    losses, times = [], []
    for i in range(steps):
        start = time.perf_counter()
        batch = torch.stack([tensors[k] for k in triplets[i % len(triplets)]])
        out = model(batch.contiguous(memory_format=torch.channels_last))
        loss = tutorial_loss(out[0:1], out[1:2], out[2:3], alpha=TRAIN_ALPHA)
        loss.backward()
        optimizer.step()  # no zero_grad, as in the tutorial: the gradient keeps every earlier step's
        losses.append(float(loss.detach().reshape(-1)[0]))
        times.append(time.perf_counter() - start)
    return losses, times


def embed(model: CNN, tensors: list[torch.Tensor], batch: int = 16) -> torch.Tensor:
    """(N, 16) embeddings in eval mode (test.py line 40: dropout off)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(tensors), batch):
            x = torch.stack(tensors[i : i + batch]).contiguous(memory_format=torch.channels_last)
            out.append(model(x))
    return torch.cat(out)


def rule_scores(probes: torch.Tensor, me_ref: torch.Tensor, not_me_ref: torch.Tensor) -> np.ndarray:
    """d(probe, ME ref) - d(probe, NOT_ME ref): test.py accepts when this is <= -TEST_ALPHA (= 0.6)."""
    return (torch.norm(probes - me_ref, dim=1) - torch.norm(probes - not_me_ref, dim=1)).double().numpy()


def tutorial_accepts(probe: torch.Tensor, me_ref: torch.Tensor, not_me_ref: torch.Tensor) -> bool:
    """test.py's decision on one embedding, literally (lines 95, 100): the loss with alpha -0.6 is 0."""
    loss = tutorial_loss(probe[None], me_ref[None], not_me_ref[None], alpha=TEST_ALPHA)
    return bool(loss.data == 0)


def photos(folder: Path) -> list[Path]:
    def number(p: Path) -> int:
        return int(p.stem.rsplit("_", 1)[-1]) if p.stem.rsplit("_", 1)[-1].isdigit() else 0

    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=number)


def ours_vectors(pipeline, paths: list[Path]) -> dict[Path, tuple[np.ndarray | None, bool]]:
    """path -> (probe vector or None for a failure to acquire, usable as a template)."""
    result = {}
    for path in paths:
        try:
            image = read_rgb(path)
        except ImageError:
            result[path] = (None, False)
            continue
        found = pipeline.process(image)
        probe, _ = select_probe(found, image.shape)
        # When enrollment accepts a photo its only sizeable face is the probe, so one vector serves both.
        result[path] = (None if probe is None else probe.vector, enrollment_problem(found) is None)
    return result


def ours_distances(vectors: dict, templates: np.ndarray | None, paths: list[Path]) -> np.ndarray:
    if templates is None or len(templates) == 0:
        return np.full(len(paths), np.inf)
    return np.array([np.inf if vectors[p][0] is None else float(distance_to_profile(vectors[p][0], templates))
                     for p in paths])


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="shared data folder (default: faceid_desktop.datasets.data_dir())")
    parser.add_argument("--epochs", type=float, default=0.02,
                        help="training epochs, seed photos and each owner; fractions run part of one (default 0.02; "
                             f"the tutorial trains {TUTORIAL_EPOCHS})")
    parser.add_argument("--owners", type=int, default=5, help="owners in the owner-protocol sample (default 5)")
    parser.add_argument("--genuine", type=int, default=10, help="genuine probes per owner, at most (default 10)")
    parser.add_argument("--impostors", type=int, default=100, help="impostor images, scored against every owner "
                                                                   "(default 100)")
    parser.add_argument("--timing-steps", type=int, default=3, help="timed steps of the code as written (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.epochs <= 0:
        parser.error("--epochs must be positive")

    root = args.data or data_dir()
    seed_dir = root / "faces" / "seed" if root else None
    if root is None or not (seed_dir / "ME").is_dir() or not (seed_dir / "NOT_ME").is_dir():
        where = f" in {root}" if root else " (set FACEID_DATA or pass --data)"
        print(f"seed_snn: shared data folder with faces/seed/ME and faces/seed/NOT_ME not found{where}",
              file=sys.stderr)
        return 2
    lfw = lfw_dir(root)
    torch.set_num_threads(THREADS)
    started = time.perf_counter()

    me, not_me = photos(seed_dir / "ME"), photos(seed_dir / "NOT_ME")
    seed_triplets = triplets_of(me, not_me, random.Random(args.seed))
    torch.manual_seed(args.seed)
    model = CNN()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    parameters = sum(p.numel() for p in model.parameters())
    print(f"The tutorial's network (github.com/ScienceKot/SNN): 3 convolutions on whole {SIDE}x{SIDE} frames, "
          f"{parameters / 1e6:.1f} M parameters ({parameters * 4 / 2**20:.0f} MiB float32)")
    print(f"torch {torch.__version__}, {THREADS} threads, CPU; load average at start "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work slows the timings)\n")

    # -- cost ----------------------------------------------------------------------------------------------
    step_as_written = statistics.median(tutorial_step_times(model, seed_triplets, args.timing_steps))
    reset(model, initial)
    model.to(memory_format=torch.channels_last)
    tensors = {p: load_tensor(p) for p in me + not_me}
    # Before any training, for reference (seed photos only: the owners' networks would cost a pass each).
    init_out = embed(model, [tensors[p] for p in me + not_me])
    losses, step_times = train(model, seed_triplets, tensors, args.epochs, args.seed)
    step_here = statistics.median(step_times)
    n_seed = len(seed_triplets)
    n_tutorial = TUTORIAL_ME * (TUTORIAL_ME - 1) * TUTORIAL_NOT_ME
    print(f"{'Training cost':<56}{'tutorial as written':>22}{'as run here':>16}")
    print(f"{'  time per triplet step (median)':<56}{step_as_written:>21.2f}s{step_here:>15.2f}s")
    print(f"{'    steps timed':<56}{args.timing_steps:>22}{len(step_times):>16}")
    for label, n in ((f"seed photos, {len(me)} ME + {len(not_me)} NOT_ME: {n_seed} triplets", n_seed),
                     (f"tutorial's {TUTORIAL_ME} ME + {TUTORIAL_NOT_ME} NOT_ME: {n_tutorial} triplets", n_tutorial)):
        print(f"  {TUTORIAL_EPOCHS} epochs, {label}")
        print(f"{'    projected wall time':<56}{hours(n * TUTORIAL_EPOCHS * step_as_written):>22}"
              f"{hours(n * TUTORIAL_EPOCHS * step_here):>16}")
    print(f"{'    tutorial reported':<56}{f'{TUTORIAL_HOURS:.0f} h on {TUTORIAL_CORES} cores':>22}")
    print("  'as written': read and resize the 3 photos, 3 forward passes, backward, SGD step (cell 3, cell 8)")
    print("  'as run here': the triplet's tensors prepared once, one batch of 3, channels-last layout "
          "(same arithmetic)\n")

    # -- seed photos -----------------------------------------------------------------------------------------
    steps = len(losses)
    short = args.epochs < TUTORIAL_EPOCHS
    print(f"Training run on the seed photos: {args.epochs:g} epoch(s) = {steps} of {n_seed} triplets per epoch, "
          f"seed {args.seed}, {sum(step_times):.0f} s")
    if short:
        print(f"  NOTE: shorter than the tutorial's {TUTORIAL_EPOCHS} epochs ({n_seed * TUTORIAL_EPOCHS} steps): "
              f"{steps / (n_seed * TUTORIAL_EPOCHS):.2%} of its training")
    clamped = sum(1 for v in losses if v == 0.0)
    print(f"  loss (alpha {TRAIN_ALPHA}): first {losses[0]:.3f}, last {losses[-1]:.3f}, mean {np.mean(losses):.3f}, "
          f"clamped to 0 in {clamped} of {steps} steps\n")
    trained_out = embed(model, [tensors[p] for p in me + not_me])
    swapped_out = embed(model, [tensors[p][[2, 1, 0]] for p in me + not_me])
    pipeline_started = time.perf_counter()
    from faceid_desktop.pipeline import default_pipeline

    pipeline = default_pipeline()
    threshold = DecisionSettings().threshold
    seed_ours = ours_vectors(pipeline, me + not_me)
    ours_template = seed_ours[me[0]][0]
    ours_seed_d = ours_distances(seed_ours, None if ours_template is None else ours_template[None], me + not_me)
    pipeline_seconds = time.perf_counter() - pipeline_started

    names = [p.stem for p in me + not_me]
    print(f"Seed photos, the tutorial's test rule: accept when loss(x, {me[0].stem}, {not_me[0].stem}, "
          f"alpha {TEST_ALPHA}) == 0, i.e. d(x, {me[0].stem}) - d(x, {not_me[0].stem}) <= {-TEST_ALPHA}")
    print(f"  (training photos: all of them were trained on; {me[0].stem} and {not_me[0].stem} are the references)")
    others = [k for k in range(len(names)) if k not in (0, len(me))]  # the photos that are not references

    def tutorial_row(label: str, out: torch.Tensor, refs: torch.Tensor) -> tuple:
        scores = rule_scores(out, refs[0], refs[len(me)])[others]
        accepted = [tutorial_accepts(o, refs[0], refs[len(me)]) for o in out]
        return label, accepted, f"{scores.min():.3f} .. {scores.max():.3f}"

    rows = [tutorial_row("tutorial, untrained", init_out, init_out),
            tutorial_row(f"tutorial, {args.epochs:g} epoch(s)", trained_out, trained_out),
            tutorial_row("  probes BGR as RGB (test.py's camera path)", swapped_out, trained_out),
            (f"ours, template {me[0].stem} only, threshold {threshold}", list(ours_seed_d <= threshold),
             f"{ours_seed_d[others].min():.3f} .. {ours_seed_d[others].max():.3f}")]
    print(f"{'':<46}{'ME acc.':>8}{'NOT_ME acc.':>12}{'score range':>18}   accepted photos")
    for label, accepted, spread in rows:
        got = [n for n, a in zip(names, accepted) if a]
        print(f"{label:<46}{sum(accepted[: len(me)]):>5}/{len(me):<2}{sum(accepted[len(me):]):>9}/{len(not_me):<2}"
              f"{spread:>18}   {' '.join(got) or '-'}")
    print(f"  score range: over the {len(others)} photos that are not references; the tutorial's score is "
          f"d(x, {me[0].stem}) - d(x, {not_me[0].stem}), ours the distance to the template\n")

    # -- owner-protocol sample -----------------------------------------------------------------------------
    if not lfw.is_dir():
        print(f"seed_snn: {lfw}: no such folder, owner-protocol sample skipped", file=sys.stderr)
        return 0
    people = lfw_identities(lfw)
    all_owners = [n for n, images in people.items() if len(images) >= MIN_IMAGES]
    owners = all_owners[:: max(1, len(all_owners) // args.owners)][: args.owners]
    rng = np.random.default_rng(args.seed)
    small = [n for n, images in people.items() if len(images) < MIN_IMAGES]
    not_me_people = sorted(rng.choice(small, NOT_ME_COUNT, replace=False))
    owner_not_me = [people[n][0] for n in not_me_people]
    excluded = set(owners) | set(not_me_people)
    pool = [p for n, images in people.items() if n not in excluded for p in images]
    impostors = [pool[i] for i in sorted(rng.choice(len(pool), min(args.impostors, len(pool)), replace=False))]
    owner_images = {n: people[n][: ENROLL_IMAGES + args.genuine] for n in owners}
    lfw_tensors = {p: load_tensor(p) for p in
                   [p for images in owner_images.values() for p in images] + owner_not_me + impostors}
    n_genuine = sum(len(images) - ENROLL_IMAGES for images in owner_images.values())
    plural = "s" * (len(owners) != 1)
    print(f"Owner-protocol sample on {lfw.name}: {len(owners)} owner{plural} ({', '.join(owners)}), first "
          f"{ENROLL_IMAGES} images enrolled, {n_genuine} genuine probes (at most {args.genuine} per owner), "
          f"{len(impostors)} impostor images x {len(owners)} = {len(impostors) * len(owners)} impostor scores")

    owner_triplets_n = ENROLL_IMAGES * (ENROLL_IMAGES - 1) * NOT_ME_COUNT
    print(f"  tutorial's network trained per owner: ME = the 5 enrolled images, NOT_ME = {NOT_ME_COUNT} images of "
          f"{NOT_ME_COUNT} other people (identities with < {MIN_IMAGES} images), {owner_triplets_n} triplets per "
          f"epoch, {args.epochs:g} epoch(s) = {max(1, round(args.epochs * owner_triplets_n))} steps per owner")
    if short:
        print(f"  NOTE: shorter than the tutorial's {TUTORIAL_EPOCHS} epochs ({owner_triplets_n * TUTORIAL_EPOCHS} "
              f"steps per owner)")
    tut_g, tut_i, ref_g, ref_i = [], [], [], []
    owner_seconds = time.perf_counter()
    for k, owner in enumerate(owners):
        enrolled, probes = owner_images[owner][:ENROLL_IMAGES], owner_images[owner][ENROLL_IMAGES:]
        reset(model, initial)
        triplets = triplets_of(enrolled, owner_not_me, random.Random(args.seed + k))
        train(model, triplets, lfw_tensors, args.epochs, args.seed + k)
        out = embed(model, [lfw_tensors[p] for p in [enrolled[0], owner_not_me[0]] + probes + impostors])
        me_ref, not_me_ref, scored = out[0], out[1], out[2:]
        scores = rule_scores(scored, me_ref, not_me_ref)
        tut_g.append(scores[: len(probes)])
        tut_i.append(scores[len(probes):])
        plain = torch.norm(scored - me_ref, dim=1).double().numpy()
        ref_g.append(plain[: len(probes)])
        ref_i.append(plain[len(probes):])
        print(f"  {owner}: trained and scored in {time.perf_counter() - owner_seconds:.0f} s", file=sys.stderr)
        owner_seconds = time.perf_counter()

    ours_started = time.perf_counter()
    vectors = ours_vectors(pipeline, [p for images in owner_images.values() for p in images] + impostors)
    ours_g, ours_i, fta, empty = [], [], 0, 0
    for owner in owners:
        enrolled, probes = owner_images[owner][:ENROLL_IMAGES], owner_images[owner][ENROLL_IMAGES:]
        templates = [vectors[p][0] for p in enrolled if vectors[p][1] and vectors[p][0] is not None]
        empty += not templates
        ours_g.append(ours_distances(vectors, np.array(templates) if templates else None, probes))
        ours_i.append(ours_distances(vectors, np.array(templates) if templates else None, impostors))
    fta = sum(1 for p in vectors if vectors[p][0] is None and p not in
              {q for images in owner_images.values() for q in images[:ENROLL_IMAGES]})
    pipeline_seconds += time.perf_counter() - ours_started

    columns = [
        ("tutorial: d(ME)-d(NOT_ME)", np.concatenate(tut_g), np.concatenate(tut_i), -TEST_ALPHA),
        ("tutorial: d(ME) only", np.concatenate(ref_g), np.concatenate(ref_i), None),
        ("ours: distance_to_profile", np.concatenate(ours_g), np.concatenate(ours_i), threshold),
    ]
    width = 28
    print(f"\n{'':<36}" + "".join(f"{label:>{width}}" for label, *_ in columns))
    at_rule = [rates_at(g, i, t) if t is not None else None for _, g, i, t in columns]
    print(f"{'decision threshold':<36}" + "".join(
        f"{(f'{t:.2f} (test.py)' if k == 0 else f'{t:.2f} (default)') if t is not None else '-':>{width}}"
        for k, (*_, t) in enumerate(columns)))
    print(f"{'  FAR at it':<36}" + "".join(f"{(f'{r.far:.2%}' if r else '-'):>{width}}" for r in at_rule))
    print(f"{'  FRR at it':<36}" + "".join(f"{(f'{r.frr:.2%}' if r else '-'):>{width}}" for r in at_rule))
    at_far = [frr_at_far(g, i, TARGET_FAR) for _, g, i, _ in columns]
    print(f"{f'FRR at FAR {TARGET_FAR:.0e}':<36}" + "".join(f"{r.frr:>{width}.2%}" for r in at_far))
    print(f"{'  threshold':<36}" + "".join(f"{r.threshold:>{width}.4f}" for r in at_far))
    print(f"{'EER':<36}" + "".join(f"{eer_value(eer(g, i)):>{width}.2%}" for _, g, i, _ in columns))
    print(f"{'failures to acquire (probe images)':<36}" + "".join(f"{v:>{width}}" for v in (0, 0, fta)))
    print(f"{'owners with no usable enrollment':<36}" + "".join(f"{v:>{width}}" for v in (0, 0, empty)))
    print("  'd(ME) only': the same networks scored by the distance to the ME reference alone, no rule")
    print(f"  our pipeline (detect, align, embed) took {pipeline_seconds:.0f} s for "
          f"{len(vectors) + len(me) + len(not_me)} images, no training")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"\n{time.perf_counter() - started:.0f} s in all; peak resident memory {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
