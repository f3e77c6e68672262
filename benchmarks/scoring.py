"""Scoring rules side by side on the owner protocol: template choices, score normalisation, PLDA, alpha rule.

Everything a profile could be scored with, on the same embeddings (owner_protocol.py's cache, made by the
CLI's code) and the same probes, with two folds by identity: the population statistics a rule needs (PLDA's
covariances, the alpha rule's synthetic cohort, Z-norm's moments) are fitted on one fold and the rule is
measured on the owners and strangers of the other, so nothing is fitted on the people it is scored on.
Figures are the two folds' mean FRR at FAR 1e-3/1e-4/1e-5 and EER; a failure to acquire is a reject.

* raw mean: Euclidean distance to the mean of the raw templates (dlib's scale);
* min: distance to the nearest raw template (Howdy's, face_recognition's rule);
* unit centre: the profile's measure (verification.distance_to_profile), the default;
* Z-norm: the unit-centre cosine standardised by its mean and deviation over the fitting fold's
  strangers (a cohort of 2,000 of their images);
* PLDA: the two-covariance log-likelihood ratio (Ioffe 2006; Prince and Elder 2007) with the enrolled
  images' mean, on raw and on unit-length embeddings;
* alpha rule: the unit centre with distance + alpha <= the distance to the nearest of 1,000 synthetic
  strangers drawn from the fitting fold's background model (verification.decide_distance).

    python benchmarks/scoring.py [--dataset DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import owner_protocol  # noqa: E402

from faceid_desktop.background import fit_background  # noqa: E402
from faceid_desktop.metrics import eer, eer_value, frr_at_far  # noqa: E402
from faceid_desktop.verification import COHORT_SIZE, distances, profile_centre, unit  # noqa: E402

TARGETS = owner_protocol.TARGET_FARS


def plda_scorer(between: np.ndarray, within: np.ndarray, mean: np.ndarray):
    """-LLR(probe, enrolled mean of n images) of the two-covariance model: lower = more alike."""
    cache: dict[int, np.ndarray] = {}
    # Unit-length embeddings lie on a sphere, so their covariances are singular along the radius: a ridge
    # of 1e-3 of the mean variance keeps the inverses finite without changing the scores elsewhere.
    ridge = 1e-3 * np.trace(between + within) / len(mean) * np.eye(len(mean))
    between, within = between + ridge, within + ridge

    def score(probes: np.ndarray, templates: np.ndarray) -> np.ndarray:
        n = len(templates)
        if n not in cache:
            total = between + within
            zero = np.zeros_like(between)
            same = np.block([[total, between], [between, between + within / n]])
            diff = np.block([[total, zero], [zero, between + within / n]])
            cache[n] = np.linalg.inv(same) - np.linalg.inv(diff)
        z = np.hstack([probes - mean, np.repeat((templates.mean(axis=0) - mean)[None], len(probes), axis=0)])
        return 0.5 * np.einsum("ij,jk,ik->i", z, cache[n], z)

    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="identity/image folder (default: the shared lfw-devtrain)")
    args = parser.parse_args(argv)
    root = owner_protocol.dataset_root(args.dataset, "scoring")
    if root is None:
        return 2
    started = time.perf_counter()
    people, _, index, embedded = owner_protocol.load_embedded(root)
    usable = (embedded.verify == "") & ~np.isnan(embedded.vectors).any(axis=1)
    templates, enrollable = owner_protocol.enrollment(people, index, embedded)
    raw = np.nan_to_num(embedded.vectors).astype(np.float64)
    template_raw = np.nan_to_num(templates).astype(np.float64)  # rows of enrolled images: what enrollment keeps
    units = unit(raw)
    identity = np.array([k for k, images in enumerate(people.values()) for _ in images])
    fold = np.random.default_rng(0).integers(0, 2, len(people))

    results: dict[str, list] = {}
    for f in (0, 1):
        fit = np.isin(identity, np.flatnonzero(fold != f)) & usable
        model_raw = fit_background(raw[fit], identity[fit])
        model_unit = fit_background(units[fit], identity[fit])
        rng = np.random.default_rng(0)
        cohort = unit(model_raw.sample_images(COHORT_SIZE, rng))
        znorm_cohort = units[rng.choice(np.flatnonzero(fit), 2000, replace=False)]
        plda_raw = plda_scorer(model_raw.between, model_raw.within, model_raw.mean)
        plda_unit = plda_scorer(model_unit.between, model_unit.within, model_unit.mean)

        def alpha_rule(alpha: float):
            def score(probes, templates):
                d = np.linalg.norm(unit(probes) - profile_centre(templates), axis=1)
                nearest = np.sqrt(np.maximum(2 - 2 * (unit(probes) @ cohort.T).max(axis=1), 0))
                return np.where(d + alpha <= nearest, d, np.inf)
            return score

        def znorm(probes, templates):
            centre = profile_centre(templates)
            cos_cohort = znorm_cohort @ centre
            return -(unit(probes) @ centre - cos_cohort.mean()) / cos_cohort.std()

        rules = {
            "raw mean": lambda p, t: distances(p, t, "raw mean"),
            "min": lambda p, t: distances(p, t, "min"),
            "unit centre (default)": lambda p, t: distances(p, t, "mean"),
            "Z-norm (unit centre)": znorm,
            "PLDA LLR (raw)": plda_raw,
            "PLDA LLR (unit)": lambda p, t: plda_unit(unit(p), unit(t)),
            "alpha rule 0.05": alpha_rule(0.05),
            "alpha rule 0.10": alpha_rule(0.10),
            "alpha rule 0.20": alpha_rule(0.20),
        }
        in_fold = np.isin(identity, np.flatnonzero(fold == f))
        scores = {name: ([], []) for name in rules}
        for k, (name, images) in enumerate(people.items()):
            if fold[k] != f or len(images) < owner_protocol.MIN_IMAGES:
                continue
            rows = [index[p] for p in images]
            enrolled = [r for r in rows[:owner_protocol.ENROLL_IMAGES] if enrollable[r]]
            probes = np.array(rows[owner_protocol.ENROLL_IMAGES:])
            strangers = np.flatnonzero(in_fold & (identity != k))
            for rule, score in rules.items():
                for probe_rows, out in zip((probes, strangers), scores[rule]):
                    s = np.full(len(probe_rows), np.inf)
                    ok = usable[probe_rows]
                    if enrolled and ok.any():
                        s[ok] = score(raw[probe_rows[ok]], template_raw[enrolled])
                    out.append(s)
        for rule, (genuine, impostor) in scores.items():
            g, i = np.concatenate(genuine), np.concatenate(impostor)
            results.setdefault(rule, []).append(([frr_at_far(g, i, t).frr for t in TARGETS], eer_value(eer(g, i)),
                                                 len(g), len(i)))

    first = next(iter(results.values()))
    print(f"Scoring rules on {root.name}, 2 folds by identity: {sum(r[2] for r in first)} genuine and "
          f"{sum(r[3] for r in first)} impostor probes per rule\n")
    print(f"{'rule':<24}" + "".join(f"{f'FRR@{t:.0e}':>12}" for t in TARGETS) + f"{'EER':>9}")
    for rule, folds in results.items():
        frr = np.mean([r[0] for r in folds], axis=0)
        print(f"{rule:<24}" + "".join(f"{v:>12.2%}" for v in frr) + f"{np.mean([r[1] for r in folds]):>9.2%}")
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
