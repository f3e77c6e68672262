"""Where the files of ``assets/`` are: the checkout's folder, or the copy an installed wheel (or a frozen
bundle) carries."""

from __future__ import annotations

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1] / "assets"


def assets_dir() -> Path:
    """The assets folder: ``assets/`` beside the package in a checkout (editable install); else
    ``<prefix>/share/faceid-desktop`` of a wheel install (pyproject's data-files); else ``assets/`` inside a
    PyInstaller bundle (``sys._MEIPASS``). The checkout's path when none exists, so errors name it."""
    candidates = [_CHECKOUT, Path(sys.prefix) / "share" / "faceid-desktop"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.insert(0, Path(bundle) / "assets")
    return next((c for c in candidates if c.is_dir()), _CHECKOUT)


def asset(name: str) -> Path:
    """The path of ``name`` (e.g. ``"calibration.npz"``, ``"icons/app.svg"``) in :func:`assets_dir`."""
    return assets_dir() / name
