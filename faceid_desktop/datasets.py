"""Locating the real face data used by tests and benchmarks (never shipped with the app).

The data lives outside the repository: ``$FACEID_DATA`` when set, otherwise ``../shared`` beside the
checkout. See ``faces/README.md`` there for its layout and licences.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    """The shared data folder, or None when it is absent (``$FACEID_DATA``, else ``<repo>/../shared``)."""
    env = os.environ.get("FACEID_DATA")
    candidate = Path(env) if env else _REPO_ROOT.parent / "shared"
    return candidate if candidate.is_dir() else None


def lfw_dir(root: Path) -> Path:
    """The LFW dev-train folder inside the shared data folder ``root``."""
    return root / "faces" / "lfw-devtrain"


def lfw_identities(lfw: Path) -> dict[str, list[Path]]:
    """Map each LFW identity to its image paths, sorted by file name (LFW's ``Name/Name_NNNN.jpg`` layout)."""
    people = {}
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        images = sorted(person.glob("*.jpg"))
        if images:
            people[person.name] = images
    return people
