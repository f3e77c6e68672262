"""The desktop app end to end, offscreen, with recorded clips as the camera (pytest-qt).

The owner is the person of ``media/live/talking_head_aoc.mp4``: the wizard enrolls from the clip, the unlock
screen is shown the clip's second half (frames the profile fixture never saw, as an image folder), and
``liveportrait_d0.mp4`` (another person) must not unlock. No real camera is ever opened.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from faceid_desktop.camera import Frame, SourceError, open_source  # noqa: E402
from faceid_desktop.enrollment import EnrollmentResult, enroll_frames  # noqa: E402
from faceid_desktop.gui.camera_worker import CameraHub  # noqa: E402
from faceid_desktop.gui.enroll_wizard import WizardOptions  # noqa: E402
from faceid_desktop.gui.errors import ExceptionGuard  # noqa: E402
from faceid_desktop.gui.main_window import MainWindow  # noqa: E402
from faceid_desktop.gui.settings import AppSettings  # noqa: E402
from faceid_desktop.gui.unlock_logic import LOCKED_OUT, UNLOCKED  # noqa: E402
from faceid_desktop.profile import Profile  # noqa: E402
from faceid_desktop.storage import ProfileStore  # noqa: E402
from faceid_desktop.training import TrainingConfig  # noqa: E402

QUICK = TrainingConfig(steps=5, batch_size=8, negatives_per_batch=16, augmentations_per_image=2,
                       not_me_augmentations=2, background_negatives=64)
FAST = WizardOptions(target=5, min_interval=0.1, patience=0.5, training=QUICK)
OWNER_CLIP = "talking_head_aoc.mp4"  # 8 s, 200 frames, 25 fps
STRANGER_CLIP = "liveportrait_d0.mp4"  # 3 s, another person


@pytest.fixture(scope="module")
def live(shared: Path) -> Path:
    return shared / "media" / "live"


@pytest.fixture(scope="module")
def owner_later_frames(live: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 2nd frame of the owner clip's second half, as an image folder (a throw-away copy)."""
    folder = tmp_path_factory.mktemp("owner-later")
    with open_source(live / OWNER_CLIP) as source:
        for frame in source:
            if frame.index >= 100 and frame.index % 2 == 0:
                cv2.imwrite(str(folder / f"{frame.index:04d}.jpg"), frame.image)
    return folder


@pytest.fixture(scope="module")
def owner_profile(live: Path, pipeline) -> Profile:
    """A profile of the owner enrolled by the core from the clip's first 40% (frames < 3.2 s)."""
    result = EnrollmentResult()
    with open_source(live / OWNER_CLIP) as source:
        enroll_frames(pipeline, (f for f in source if f.timestamp < 3.2), result, per_video=8)
    assert len(result.templates) >= 4
    return Profile("owner", pipeline.embedder.model_id, tuple(result.templates), created_at=1.0, updated_at=1.0)


@pytest.fixture
def make_window(qtbot, tmp_path: Path, pipeline):
    """Builds a MainWindow over a temp data directory; closes it (and its threads) after the test."""
    windows = []

    def make(camera, profile: Profile | None = None, options: WizardOptions = FAST, **kwargs) -> MainWindow:
        store = ProfileStore(tmp_path / "home")
        if profile is not None:
            store.save(profile)
        hub = CameraHub(str(camera), lambda: pipeline, source_factory=kwargs.pop("source_factory", None))
        window = MainWindow(hub, store, AppSettings(tmp_path / "home" / "gui.ini"), options, confirm=False, **kwargs)
        qtbot.addWidget(window)
        window.resize(1000, 650)
        window.show()
        windows.append(window)
        qtbot.waitUntil(lambda: hub.pipeline is not None, timeout=60_000)
        return window

    yield make
    for window in windows:
        window.close()


def test_wizard_end_to_end_creates_profile(qtbot, make_window, live):
    window = make_window(live / OWNER_CLIP)
    assert window.store.names() == [] and window.tabs.currentIndex() == 0  # no profile: the Enroll screen
    wizard = window.open_wizard()
    assert not wizard.button(wizard.WizardButton.NextButton).isEnabled()  # consent first
    wizard.consent.agree.setChecked(True)
    wizard.next()
    wizard.name.edit.setText("bad name!")
    wizard.next()
    assert wizard.currentPage() is wizard.name and "invalid profile name" in wizard.name.error.text()
    wizard.name.edit.setText("alex")
    wizard.next()
    assert wizard.currentPage() is wizard.capture
    qtbot.waitUntil(wizard.capture.isComplete, timeout=60_000)
    assert wizard.capture.ring.value == 5 and wizard.capture.view.preview.frames_shown > 0
    wizard.next()  # not me: skipped
    wizard.next()
    assert wizard.currentPage() is wizard.training
    qtbot.waitUntil(wizard.training.isComplete, timeout=60_000)
    assert wizard.training_result is not None and len(wizard.training_result.losses) == QUICK.steps
    assert wizard.training.bar.value() == QUICK.steps
    assert window.store.names() == []  # nothing written before Finish
    wizard.next()
    qtbot.waitUntil(lambda: wizard.test.unlocked_in is not None, timeout=60_000)
    wizard.next()
    assert wizard.currentPage() is wizard.done_page and "alex" in wizard.done_page.summary.text()
    with qtbot.waitSignal(wizard.enrolled, timeout=10_000):
        wizard.accept()
    saved = window.store.load("alex")
    assert len(saved.templates) == 5 and saved.model_id == window.hub.pipeline.embedder.model_id
    qtbot.waitUntil(lambda: window.wizard is None)
    assert window.profile.name == "alex" and window.picker.currentText() == "alex"
    assert window.tabs.currentWidget() is window.unlock


def test_cancel_during_training_keeps_old_profile(qtbot, make_window, live, owner_profile):
    slow = WizardOptions(target=5, min_interval=0.1, patience=0.5, training=TrainingConfig(
        steps=100_000, batch_size=8, negatives_per_batch=16, augmentations_per_image=2, background_negatives=64))
    window = make_window(live / OWNER_CLIP, owner_profile, slow)
    wizard = window.open_wizard()
    wizard.consent.agree.setChecked(True)
    wizard.next()
    wizard.name.edit.setText("owner")
    wizard.next()
    assert wizard.currentPage() is wizard.name  # exists: must tick "replace"
    wizard.name.replace.setChecked(True)
    wizard.next()
    qtbot.waitUntil(wizard.capture.isComplete, timeout=60_000)
    wizard.next()
    wizard.next()
    qtbot.waitUntil(lambda: wizard.training.bar.value() >= 2, timeout=60_000)
    assert wizard.training.running
    wizard.reject()
    assert not wizard.training.running
    kept = window.store.load("owner")
    assert len(kept.templates) == len(owner_profile.templates)
    assert np.array_equal(kept.templates[0].embedding, owner_profile.templates[0].embedding)
    assert window.store.names() == ["owner"]


def test_unlock_screen_unlocks_for_the_owner(qtbot, make_window, owner_later_frames, owner_profile):
    window = make_window(owner_later_frames, owner_profile)
    assert window.profile.name == "owner"
    window.show_screen("unlock")
    with qtbot.waitSignal(window.unlock.unlocked, timeout=30_000) as blocker:
        pass
    name, seconds = blocker.args
    assert name == "owner" and 0 <= seconds <= owner_profile.settings.timeout
    assert window.unlock.status.state == UNLOCKED and window.unlock.lock.state == UNLOCKED
    assert "Unlocked in" in window.unlock.title.text()
    window.unlock.lock_again()
    assert window.unlock.status.state != UNLOCKED


def test_unlock_screen_stays_locked_for_another_person(qtbot, make_window, live, owner_profile):
    window = make_window(live / STRANGER_CLIP, owner_profile.with_settings(timeout=1.5), max_attempts=1,
                         backoff=60.0)
    unlocks = []
    window.unlock.unlocked.connect(lambda *args: unlocks.append(args))
    window.show_screen("unlock")
    qtbot.waitUntil(lambda: window.unlock.status.state == LOCKED_OUT, timeout=40_000)
    assert unlocks == [] and window.unlock.lock.state == LOCKED_OUT
    assert "try again in" in window.unlock.title.text()


def test_threshold_slider_changes_the_live_decision(qtbot, make_window, owner_later_frames, owner_profile):
    window = make_window(owner_later_frames, owner_profile)
    window.show_screen("tune")
    tune = window.tune
    qtbot.waitUntil(lambda: tune.last_decision is True, timeout=30_000)
    assert "MATCH" in tune.live_label.text()
    tune.set_threshold(0.05)
    assert tune.last_decision is False and "NO MATCH" in tune.live_label.text()
    assert window.unlock.controller.settings.threshold == pytest.approx(0.05)  # the unlock rule follows
    frames = tune._frames
    qtbot.waitUntil(lambda: tune._frames >= frames + 3, timeout=30_000)
    assert tune.last_decision is False
    tune.apply()
    assert window.store.load("owner").settings.threshold == pytest.approx(0.05)
    tune.revert()
    assert tune.settings.threshold == pytest.approx(0.05)  # the saved value now
    assert len(tune.live_curve.getData()[1]) >= 3


def test_missing_camera_shows_a_message_and_retries(qtbot, make_window, tmp_path, owner_later_frames):
    window = make_window(tmp_path / "no-such-clip.mp4")
    bar = window.enroll  # no profile: the Enroll screen; the unlock screen's camera view shows the message
    view = window.unlock.view
    qtbot.waitUntil(lambda: view.error_bar.isVisibleTo(window.unlock), timeout=10_000)
    assert "no such file" in view.error_bar.label.text()
    assert "no such file" in view.preview.message
    assert bar is not None and window.hub.error
    window.hub.spec = str(owner_later_frames)
    view.error_bar.button.click()  # Retry
    qtbot.waitUntil(lambda: not view.error_bar.isVisibleTo(window.unlock), timeout=10_000)
    assert window.hub.error is None


def test_unreadable_file_and_camera_unplugged(qtbot, make_window, tmp_path, owner_later_frames):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    window = make_window(broken)
    view = window.unlock.view
    qtbot.waitUntil(lambda: view.error_bar.isVisibleTo(window.unlock), timeout=10_000)
    assert "not a readable video" in view.error_bar.label.text()

    class Unplugged:
        """A 'camera' that delivers 3 frames then fails as an unplugged camera does."""
        kind, fps, name = "camera", 30.0, "camera:7"

        def __init__(self) -> None:
            self.count = 0

        def __iter__(self):
            return self

        def __next__(self) -> Frame:
            self.count += 1
            if self.count > 3:
                raise SourceError("camera 7 stopped delivering frames after 3 frames (was it unplugged?)")
            return Frame(np.zeros((48, 64, 3), np.uint8), self.count / 30, self.count - 1, self.name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    window.hub._source_factory = lambda spec: Unplugged()
    window.hub.restart()
    qtbot.waitUntil(lambda: "unplugged" in view.error_bar.label.text(), timeout=10_000)
    assert "unplugged" in view.preview.message


def test_exception_guard_shows_one_line():
    shown = []
    with ExceptionGuard(shown.append) as guard:
        try:
            raise ValueError("bad\ninput")
        except ValueError as error:
            import sys

            sys.excepthook(type(error), error, error.__traceback__)
    assert shown == ["bad input"] and guard.count == 1


def test_python_m_dispatches_cli_commands(monkeypatch, tmp_path, capsys):
    from faceid_desktop import __main__ as entry
    from faceid_desktop.gui.app import build_parser

    monkeypatch.setenv("FACEID_HOME", str(tmp_path))
    assert entry.main(["profiles", "list"]) == 0
    assert "no profiles yet" in capsys.readouterr().out
    args = build_parser().parse_args(["--camera", "clip.mp4", "--screen", "tune"])
    assert args.camera == "clip.mp4" and args.screen == "tune"
    assert os.environ.get("QT_QPA_PLATFORM") == "offscreen"
