"""Fit the background model shipped in assets/ on LFW's development-training people.

Embeds every image of ../shared/faces/lfw-devtrain (or --dataset DIR, laid out as identity/image) with the
same pipeline and face choice as ``faceid verify`` (cached by file hash, shared with owner_protocol.py),
fits the two-covariance model (faceid_desktop.background.fit_background) and writes it. Only a mean and two
covariance matrices are stored: no individual's embedding.

    python benchmarks/fit_background.py [--dataset DIR] [--out assets/background_model.npz]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import owner_protocol  # noqa: E402  (the shared embedding cache)

from faceid_desktop.background import DEFAULT_PATH, fit_background  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="identity/image folder (default: the shared lfw-devtrain)")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help=f"where to write (default {DEFAULT_PATH})")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    root = owner_protocol.dataset_root(args.dataset, "fit_background")
    if root is None:
        return 2
    people, paths, _, embedded = owner_protocol.load_embedded(root, args.workers)
    labels = np.array([name for name, images in people.items() for _ in images])
    vectors = embedded.vectors
    usable = (embedded.verify == "") & ~np.isnan(vectors).any(axis=1)
    model = fit_background(vectors[usable], labels[usable], f"{root.name}: {usable.sum()} images")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    between, within = np.trace(model.between), np.trace(model.within)
    print(f"background model from {model.images} images of {model.identities} identities -> {args.out}")
    print(f"trace(between) {between:.4f}, trace(within) {within:.4f}: identity explains "
          f"{between / (between + within):.0%} of the spread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
