"""Render assets/icons/app.svg to the PNG sizes desktop launchers look up in the hicolor theme, and copy it
under the app's name as the theme's scalable icon (data-files install files under their own names).

Run after changing app.svg: ``QT_QPA_PLATFORM=offscreen python packaging/render_icons.py``. The PNGs are
committed because menus and docks do not all read SVG, and installing should not need Qt to draw them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SIZES = (48, 128, 256)
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "icons"
APP_ID = "faceid-desktop"


def render(svg: Path, size: int, out: Path) -> None:
    """Draw ``svg`` on a transparent ``size`` x ``size`` image and save it as PNG."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"{out}: could not write")


def main() -> int:
    # QImage and QSvgRenderer need a QGuiApplication for fonts and image plugins, never a display.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (kept alive while drawing)
    for size in SIZES:
        out = ASSETS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        render(ASSETS / "app.svg", size, out)
        print(out.relative_to(ASSETS.parents[1]))
    scalable = ASSETS / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ASSETS / "app.svg", scalable)
    print(scalable.relative_to(ASSETS.parents[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
