"""Settings of the app (camera, last profile, screen, window geometry, liveness), kept in ``gui.ini`` beside the profiles
(the data directory: ``$FACEID_HOME`` or the user data directory). Decision settings live in the profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings


class AppSettings:
    """A small typed view over a QSettings INI file.

    Args:
        path: the INI file (created on the first write).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._qt = QSettings(str(self.path), QSettings.Format.IniFormat)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (a string, bytes or the default)."""
        return self._qt.value(key, default)

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` (written at :meth:`sync` and on exit)."""
        self._qt.setValue(key, value)

    def sync(self) -> None:
        """Write pending changes to disk."""
        self._qt.sync()

    @property
    def profile(self) -> str:
        """The profile last selected ('' when none)."""
        return str(self.get("profile", "") or "")

    @profile.setter
    def profile(self, name: str) -> None:
        self.set("profile", name)

    @property
    def camera(self) -> str:
        """The camera last used ('' when none)."""
        return str(self.get("camera", "") or "")

    @camera.setter
    def camera(self, spec: str) -> None:
        self.set("camera", spec)

    @property
    def screen(self) -> str:
        """The screen last shown (``enroll``, ``unlock`` or ``tune``)."""
        return str(self.get("screen", "unlock") or "unlock")

    @screen.setter
    def screen(self, name: str) -> None:
        self.set("screen", name)

    @property
    def liveness(self) -> bool:
        """Check liveness on the unlock screen (on unless turned off)."""
        return _flag(self.get("liveness", True), True)

    @liveness.setter
    def liveness(self, on: bool) -> None:
        self.set("liveness", bool(on))

    @property
    def challenge(self) -> bool:
        """Ask for a random action (challenge mode) instead of waiting for a blink (off unless turned on)."""
        return _flag(self.get("challenge", False), False)

    @challenge.setter
    def challenge(self, on: bool) -> None:
        self.set("challenge", bool(on))


def _flag(value: Any, default: bool) -> bool:
    """A boolean from an INI value (QSettings reads ``true``/``false`` back as text); ``default`` when unclear."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    return default
