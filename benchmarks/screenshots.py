"""Render every screen of the desktop app offscreen to PNG files, with a recorded clip as the camera.

    python benchmarks/screenshots.py --out docs/screenshots [--clip PATH] [--theme light|dark]

The enrollment wizard is driven as a user would (consent, name, automatic capture from the clip, the opt-in
adaptation ticked to show its training page, then Back and unticked, the default, live test, Finish) in a
throw-away data directory, then the unlock screen (liveness on: while it waits for the blink, and unlocked)
and the tuning panel (calibrated curves) are shown for the new profile. Files: wizard-consent,
wizard-capture, wizard-adapt, wizard-training, wizard-test, enroll, unlock, unlock-done, tune (.png, each
under ~150 KB). Needs the shared data (../shared or $FACEID_DATA) for the default clip.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from faceid_desktop.datasets import data_dir  # noqa: E402
from faceid_desktop.training import TrainingConfig  # noqa: E402


def wait_until(app: QApplication, predicate, timeout: float, what: str) -> None:
    """Process events until ``predicate()`` is true.

    Raises:
        TimeoutError: it is still false after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, seconds: float) -> None:
    """Process events for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)


def save(widget: QWidget, path: Path, limit: int = 150_000) -> Path:
    """Grab ``widget`` to a PNG; palette-reduce it when the full-colour file is over ``limit`` bytes."""
    image = widget.grab().toImage()
    image.save(str(path))
    if path.stat().st_size > limit:  # a 256-colour palette (error-diffused) keeps text sharp at full size
        image.convertToFormat(image.Format.Format_Indexed8).save(str(path))
    for scale in (0.85, 0.7, 0.55):  # still too big: smaller
        if path.stat().st_size <= limit:
            break
        smaller = image.scaledToWidth(int(image.width() * scale), Qt.TransformationMode.SmoothTransformation)
        smaller.convertToFormat(image.Format.Format_Indexed8).save(str(path))
    saved = QImage(str(path))  # what the file holds: maybe palette-reduced and scaled down
    print(f"{path} ({path.stat().st_size // 1024} KB, {saved.width()}x{saved.height()}"
          f"{'' if saved.width() == image.width() else f', scaled down from {image.width()}x{image.height()}'})")
    return path


def main(argv: list[str] | None = None) -> int:
    """Render the screens; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--clip", type=Path, help="video or image folder used as the camera "
                        "(default: ../shared/media/live/talking_head_aoc.mp4)")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--size", default="1100x700", help="window size WxH")
    args = parser.parse_args(argv)
    clip = args.clip
    if clip is None:
        root = data_dir()
        if root is None:
            print("screenshots: shared data not found (set FACEID_DATA or pass --clip)", file=sys.stderr)
            return 2
        clip = root / "media" / "live" / "talking_head_aoc.mp4"
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="faceid-screens-")  # the profile made here; removed at the end
    os.environ["FACEID_HOME"] = scratch

    from faceid_desktop.gui.camera_worker import CameraHub
    from faceid_desktop.gui.enroll_wizard import WizardOptions
    from faceid_desktop.gui.main_window import MainWindow
    from faceid_desktop.gui.settings import AppSettings
    from faceid_desktop.gui.theme import apply_theme
    from faceid_desktop.storage import ProfileStore, default_data_dir

    app = QApplication.instance() or QApplication([])
    apply_theme(app, args.theme)
    width, height = (int(v) for v in args.size.split("x"))
    home = default_data_dir()
    store = ProfileStore(home)
    options = WizardOptions(target=15, min_interval=0.15, patience=1.0, training=TrainingConfig(steps=60))
    hub = CameraHub(str(clip))
    window = MainWindow(hub, store, AppSettings(home / "gui.ini"), options, confirm=False)
    window.resize(width, height)
    window.show()
    shots: list = []
    try:
        wait_until(app, lambda: hub.pipeline is not None, 120, "the face model")
        wizard = window.open_wizard()
        wizard.resize(width - 100, height - 60)
        settle(app, 0.3)
        shots.append(save(wizard, args.out / "wizard-consent.png"))
        wizard.consent.agree.setChecked(True)
        wizard.next()
        wizard.name.edit.setText("alex")
        wizard.next()
        wait_until(app, lambda: len(wizard.capture.session.templates) >= 6, 60, "captures")
        shots.append(save(wizard, args.out / "wizard-capture.png"))
        def capture_done() -> bool:
            if wizard.capture.cannot_turn.isVisible():  # the clip never turns its head when asked
                wizard.capture.cannot_turn.click()
            return wizard.capture.isComplete()

        wait_until(app, capture_done, 120, "the capture to finish")
        wizard.next()  # adapt to me (opt-in)
        wizard.not_me.adapt.setChecked(True)
        settle(app, 0.2)
        shots.append(save(wizard, args.out / "wizard-adapt.png"))
        wizard.next()  # training
        wait_until(app, lambda: wizard.training.bar.value() >= 40 or wizard.training.isComplete(), 120, "training")
        shots.append(save(wizard, args.out / "wizard-training.png"))
        wizard.back()  # stops training; the default (pretrained model) is what the screens below show
        wizard.not_me.adapt.setChecked(False)
        wizard.next()  # straight to the test
        wait_until(app, lambda: wizard.test.unlocked_in is not None, 60, "the live test")
        settle(app, 0.2)
        shots.append(save(wizard, args.out / "wizard-test.png"))
        wizard.next()
        wizard.accept()
        wait_until(app, lambda: window.profile is not None and window.wizard is None, 10, "the saved profile")
        window.show_screen("enroll")
        settle(app, 0.3)
        shots.append(save(window, args.out / "enroll.png"))
        window.show_screen("unlock")
        # liveness is on by default: the screen asks for a blink once the face matches
        wait_until(app, lambda: window.unlock.status.state == "checking liveness", 60, "the liveness check")
        shots.append(save(window, args.out / "unlock.png"))
        wait_until(app, lambda: window.unlock.status.state == "unlocked", 60, "the unlock")
        settle(app, 0.3)
        shots.append(save(window, args.out / "unlock-done.png"))
        window.show_screen("tune")
        wait_until(app, lambda: len(window.tune._distances) >= 40, 60, "live distances")
        settle(app, 0.5)
        shots.append(save(window, args.out / "tune.png"))
    except TimeoutError as error:
        print(f"screenshots: {error} (a busy machine? run it again); saved so far: {len(shots)}", file=sys.stderr)
        return 1
    finally:
        window.close()
        hub.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
