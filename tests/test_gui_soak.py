"""The app driven for a while through every tab, profile switches, slider moves, the wizard and camera
restarts, offscreen on recorded clips, with faulthandler on: it must neither crash nor raise.

Issue 13 saw ``Fatal Python error: bool_dealloc`` about 10 s after opening Tune: PySide6 6.12.0 drops a
reference to ``True`` on every signal emitted from Python, and on Python 3.11 the count reaches zero after
a few thousand emits (see :func:`faceid_desktop.gui.app.binding_problem`). The soak also checks that the
count of ``True`` does not run down, so the bug is caught before it aborts the run.

``FACEID_SOAK_SECONDS`` sets how long the app is driven (default 75 s, so the whole suite stays well under
10 minutes); ``FACEID_SOAK_SEED`` the order of the actions.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from faceid_desktop.gui.app import binding_problem  # noqa: E402

from test_gui_app import (FAST, OWNER_CLIP, STRANGER_CLIP, capture_all, landmarks, live,  # noqa: E402,F401
                          make_window, owner_profile)

SOAK_SECONDS = float(os.environ.get("FACEID_SOAK_SECONDS", "75"))
SOAK_SEED = int(os.environ.get("FACEID_SOAK_SEED", "13"))


def test_binding_keeps_references_to_true():
    """The installed PySide6 does not lose references on emit (6.12.0 does; pyproject excludes it)."""
    assert binding_problem() is None


def _enroll(qtbot, window, name: str) -> None:
    """Enroll ``name`` through the wizard, as a person would (no adaptation)."""
    wizard = window.open_wizard()
    wizard.consent.agree.setChecked(True)
    wizard.next()
    wizard.name.edit.setText(name)
    wizard.next()
    capture_all(qtbot, wizard)
    wizard.next()
    wizard.next()  # no adaptation: straight to the live test
    qtbot.waitUntil(lambda: wizard.test.unlocked_in is not None, timeout=60_000)
    wizard.next()
    with qtbot.waitSignal(wizard.enrolled, timeout=10_000):
        wizard.accept()
    qtbot.waitUntil(lambda: window.wizard is None, timeout=10_000)


def test_soak_every_screen_without_crash(qtbot, make_window, live, owner_profile, tmp_path):
    problem = binding_problem()
    if problem:  # driving the app would abort the whole test run rather than fail this test
        pytest.fail(problem)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    rng = np.random.default_rng(SOAK_SEED)
    clips = [str(live / OWNER_CLIP), str(live / STRANGER_CLIP)]
    window = make_window(live / OWNER_CLIP, owner_profile, speed=2.0)
    tune = window.tune
    tune.confirm_loosening = lambda text: bool(rng.integers(2))  # no modal dialog in a test
    # the reported sequence: enroll a second profile in the wizard, then open Tune
    _enroll(qtbot, window, "second")
    window.show_screen("tune")
    qtbot.waitUntil(lambda: tune.last_analysis is not None, timeout=30_000)
    true_refs = sys.getrefcount(True)
    processed = window.hub._processor.frames_processed

    def wizard_and_cancel() -> None:
        wizard = window.open_wizard()
        wizard.consent.agree.setChecked(True)
        wizard.next()
        wizard.name.edit.setText("third")
        wizard.next()
        qtbot.wait(int(rng.integers(200, 900)))
        wizard.reject()
        qtbot.waitUntil(lambda: window.wizard is None, timeout=10_000)

    actions = {
        "tab": lambda: window.tabs.setCurrentIndex(int(rng.integers(3))),
        "profile": lambda: window.picker.setCurrentIndex(int(rng.integers(window.picker.count()))),
        "threshold": lambda: tune.set_threshold(float(rng.uniform(0.1, 0.9))),
        "alpha": lambda: tune.set_alpha_rule(bool(rng.integers(2)), float(rng.uniform(0.0, 0.3))),
        "recommended": tune.use_recommended,
        "revert": tune.revert,
        "apply": tune.apply,
        "lock again": window.unlock.lock_again,
        "camera": lambda: window.hub.restart(clips[int(rng.integers(len(clips)))]),
        "wizard": wizard_and_cancel,
    }
    names = list(actions)
    weights = np.array([6, 3, 6, 3, 1, 1, 1, 1, 1, 1], dtype=float)
    done: dict[str, int] = {}
    deadline = time.monotonic() + SOAK_SECONDS
    while time.monotonic() < deadline:
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        actions[name]()
        done[name] = done.get(name, 0) + 1
        qtbot.wait(int(rng.integers(30, 400)))
    window.show_screen("unlock")
    qtbot.wait(500)
    assert window.isVisible() and window.hub.error is None
    assert window.hub._processor.frames_processed > processed + SOAK_SECONDS  # frames kept flowing
    assert sorted(window.store.names()) == ["owner", "second"]  # the cancelled wizards left nothing
    # the bug of issue 13 lost one reference per emit, thousands a minute: a sound binding stays level
    assert sys.getrefcount(True) > true_refs - 1000, done
    print(f"soak: {SOAK_SECONDS:.0f} s, actions {done}, frames {window.hub._processor.frames_processed}")
