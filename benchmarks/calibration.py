"""Calibration on the owner protocol: estimated vs measured FAR and FRR, and the tables shipped in assets/.

Two folds by identity: the tables (faceid_desktop.calibration.CalibrationTables) are fitted on the owners
and strangers of one fold and the estimates are checked on the other, so no estimate has seen its people.
For each owner the estimate is its own (from its 5 enrolled templates); the figures are the owners'
averages beside the rates measured over the same comparisons (failures to acquire left out: they are
rejected before any distance). Then each owner's threshold is set by calibration for a target FAR, as
``faceid calibrate NAME --far F`` does, and the FAR and FRR that this gives are measured.

    python benchmarks/calibration.py [--dataset DIR] [--write [PATH]]

``--write`` fits the tables on every owner and stranger and writes them (default assets/calibration.npz).
Embeddings come from owner_protocol.py's cache (computed on first use).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import owner_protocol  # noqa: E402  (the shared embedding cache)

from faceid_desktop.calibration import (DEFAULT_PATH, SHRINK_TEMPLATES, CalibrationTables,  # noqa: E402
                                        calibrate_templates, leave_one_out)
from faceid_desktop.metrics import frr_at_far  # noqa: E402
from faceid_desktop.profile import DecisionSettings  # noqa: E402
from faceid_desktop.verification import profile_centre, unit  # noqa: E402

#: Survival levels stored in the tables: 1 down to 1e-7, 10 per decade.
LEVELS = np.logspace(0, -7, 71)
TARGETS = (1e-3, 1e-4, 1e-5)


class Data:
    """The owner protocol's embeddings as unit vectors, with each owner's enrolled and probe rows."""

    def __init__(self, root: Path) -> None:
        people, _, index, embedded = owner_protocol.load_embedded(root)
        self.usable = (embedded.verify == "") & ~np.isnan(embedded.vectors).any(axis=1)
        templates, self.enrollable = owner_protocol.enrollment(people, index, embedded)
        self.units = unit(np.nan_to_num(embedded.vectors))
        self.template_units = unit(np.nan_to_num(templates))  # rows of enrolled images: what enrollment keeps
        self.identity = np.array([k for k, images in enumerate(people.values()) for _ in images])
        self.identities = len(people)
        self.owners = []  # (identity, enrolled rows, genuine probe rows)
        for k, images in enumerate(people.values()):
            if len(images) < owner_protocol.MIN_IMAGES:
                continue
            rows = [index[p] for p in images]
            enrolled = [r for r in rows[:owner_protocol.ENROLL_IMAGES] if self.enrollable[r]]
            probes = np.array([r for r in rows[owner_protocol.ENROLL_IMAGES:] if self.usable[r]])
            if enrolled:
                self.owners.append((k, np.array(enrolled), probes))


def fit_tables(data: Data, identities: np.ndarray, source: str) -> CalibrationTables:
    """Tables from the owners and strangers among ``identities`` (a boolean mask over identities)."""
    images = identities[data.identity] & data.usable
    owners = [o for o in data.owners if identities[o[0]]]
    population_spread = float(np.mean([leave_one_out(data.units[e]).mean() for _, e, _ in owners if len(e) > 1]))
    strangers, ratios = [], []
    for k, enrolled, probes in owners:
        centre = profile_centre(data.template_units[enrolled])
        strangers.append(np.linalg.norm(data.units[images & (data.identity != k)] - centre, axis=1))
        loo = leave_one_out(data.template_units[enrolled])
        n = len(loo)
        spread = ((n * loo.mean() if n else 0.0) + SHRINK_TEMPLATES * population_spread) / (n + SHRINK_TEMPLATES)
        if len(probes):
            ratios.append(np.linalg.norm(data.units[probes] - centre, axis=1) / spread)
    d = np.concatenate(strangers)
    r = np.concatenate(ratios)
    levels, quantiles = quantile_table(-d)  # P(-D >= q) = P(D <= -q)
    return CalibrationTables(levels, -quantiles, *quantile_table(r), population_spread,
                             f"{source}: {len(owners)} owners, {len(r)} genuine and {len(d)} impostor comparisons")


def quantile_table(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(levels, quantiles) with P(V >= quantile) = level, for the levels the sample can measure (at least
    10 values beyond each)."""
    levels = LEVELS[LEVELS * len(values) >= 10]
    quantiles = np.quantile(values, 1.0 - levels, method="linear")
    return levels, np.maximum.accumulate(quantiles)


def check(data: Data, tables: CalibrationTables, identities: np.ndarray, thresholds: list[float]) -> dict:
    """Estimated (owners' mean) vs measured FAR and FRR on the owners and strangers among ``identities``."""
    images = identities[data.identity] & data.usable
    owners = [o for o in data.owners if identities[o[0]]]
    est_far, est_frr, genuine, impostor, own_thresholds = [], [], [], [], {t: [] for t in TARGETS}
    for k, enrolled, probes in owners:
        calibration = calibrate_templates(data.template_units[enrolled], tables)
        centre = profile_centre(data.template_units[enrolled])
        strangers = images & (data.identity != k)
        g = np.linalg.norm(data.units[probes] - centre, axis=1) if len(probes) else np.zeros(0)
        i = np.linalg.norm(data.units[strangers] - centre, axis=1)
        genuine.append(g)
        impostor.append(i)
        est_far.append([calibration.far_at(t) for t in thresholds])
        est_frr.append([calibration.frr_at(t) for t in thresholds])
        for target in TARGETS:
            t = calibration.threshold_for_far(target)
            own_thresholds[target].append((np.sum(g > t), len(g), np.sum(i <= t), len(i)))
    weights_g = np.array([len(g) for g in genuine], dtype=float)
    g_all, i_all = np.concatenate(genuine), np.concatenate(impostor)
    rows = []
    for j, t in enumerate(thresholds):
        rows.append((t, float(np.mean([e[j] for e in est_far])), float(np.mean(i_all <= t)),
                     float(np.average([e[j] for e in est_frr], weights=weights_g)), float(np.mean(g_all > t))))
    per_owner = {}
    for target, counts in own_thresholds.items():
        c = np.array(counts, dtype=float).sum(axis=0)
        per_owner[target] = (c[2] / c[3], c[0] / c[1])
    global_ = {target: frr_at_far(g_all, i_all, target) for target in TARGETS}
    return {"rows": rows, "per_owner": per_owner, "global": global_, "owners": len(owners),
            "genuine": len(g_all), "impostor": len(i_all)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="identity/image folder (default: the shared lfw-devtrain)")
    parser.add_argument("--write", nargs="?", type=Path, const=DEFAULT_PATH, default=None,
                        help=f"fit on everything and write the tables (default path {DEFAULT_PATH})")
    args = parser.parse_args(argv)
    root = owner_protocol.dataset_root(args.dataset, "calibration")
    if root is None:
        return 2
    started = time.perf_counter()
    data = Data(root)
    rng = np.random.default_rng(0)
    fold = rng.integers(0, 2, data.identities)
    default = DecisionSettings().threshold
    thresholds = [round(default - 0.05, 3), default, round(default + 0.05, 3)]
    results = []
    for f in (0, 1):
        tables = fit_tables(data, fold != f, f"fold {1 - f}")
        results.append(check(data, tables, fold == f, thresholds))
    print(f"Calibration on {root.name}, 2 folds by identity (fitted on one, checked on the other): "
          f"{sum(r['owners'] for r in results)} owners, {sum(r['genuine'] for r in results)} genuine and "
          f"{sum(r['impostor'] for r in results)} impostor comparisons\n")
    print(f"{'threshold':>10} {'FAR est.':>10} {'FAR meas.':>10} {'FRR est.':>10} {'FRR meas.':>10}")
    for j, t in enumerate(thresholds):
        est_far = np.mean([r["rows"][j][1] for r in results])
        far = np.mean([r["rows"][j][2] for r in results])
        est_frr = np.mean([r["rows"][j][3] for r in results])
        frr = np.mean([r["rows"][j][4] for r in results])
        print(f"{t:>10.3f} {est_far:>10.2e} {far:>10.2e} {est_frr:>10.2%} {frr:>10.2%}")
    print("\nEach owner's threshold set by calibration for a target FAR vs one global threshold set on the "
          "measured rates (an oracle):")
    print(f"{'target FAR':>10} {'FAR meas.':>10} {'FRR meas.':>10} {'global FRR at target':>22}")
    for target in TARGETS:
        far = np.mean([r["per_owner"][target][0] for r in results])
        frr = np.mean([r["per_owner"][target][1] for r in results])
        oracle = np.mean([r["global"][target].frr for r in results])
        print(f"{target:>10.0e} {far:>10.2e} {frr:>10.2%} {oracle:>22.2%}")
    if args.write:
        tables = fit_tables(data, np.ones(data.identities, dtype=bool), f"{root.name}")
        tables.save(args.write)
        print(f"\nwrote {args.write}: {tables.source}")
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
