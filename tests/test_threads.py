"""Thread counts are chosen on purpose: torch 1 (SFace on one face is many small operators), OpenCV 2, and
FACEID_THREADS gives both its number; a bad value is a one-line error."""

import cv2
import pytest
import torch

from faceid_desktop.threads import ENV_VAR, configure_threads, thread_count


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(before[0])
    cv2.setNumThreads(before[1])


def test_default_is_one_torch_thread_and_opencv_up_to_two(monkeypatch, restore_threads):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert configure_threads() == thread_count() <= 2
    assert torch.get_num_threads() == 1
    assert cv2.getNumThreads() == thread_count()


def test_the_variable_sets_both(monkeypatch, restore_threads):
    monkeypatch.setenv(ENV_VAR, "3")
    assert configure_threads() == 3
    assert torch.get_num_threads() == 3 and cv2.getNumThreads() == 3


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "257", "999999"])
def test_a_bad_value_is_refused(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(ValueError, match=ENV_VAR):
        thread_count()
