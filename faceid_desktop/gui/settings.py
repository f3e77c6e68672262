"""Settings of the app (camera, last profile, screen, window geometry, liveness), kept in ``gui.ini`` beside the profiles
(the data directory: ``$FACEID_HOME`` or the user data directory). Decision settings live in the profile.

The file is written as the profiles are: atomically (a temporary file renamed over it) and readable by the user
alone (file 0600, a data directory created here 0700), which QSettings cannot promise (it writes 0644).
Its format stays QSettings' INI (section ``[General]``), so a file written by earlier versions is read.
"""

from __future__ import annotations

import base64
import configparser
import os
import secrets
import stat
from contextlib import suppress
from pathlib import Path
from typing import Any

_SECTION = "General"
_DIR_MODE, _FILE_MODE = 0o700, 0o600


def private_directory(path: Path) -> Path:
    """Make ``path`` (and missing parents) a directory only its owner can use: created 0700, and an existing
    one of the current user's that group or others can enter is tightened to 0700 (earlier versions of the
    app created it 0755). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, _DIR_MODE)
    except FileExistsError:
        info = path.stat()
        if hasattr(os, "getuid") and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, _DIR_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename) with mode 0600."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), _FILE_MODE)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, _FILE_MODE)  # exactly 0600 whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


class SettingsError(ValueError):
    """The settings file cannot be used or saved; the message is one line that says what to do."""


class AppSettings:
    """A small typed settings file (INI, one ``[General]`` section).

    Args:
        path: the INI file (created, with its directory, on the first :meth:`sync`). An unreadable or
            damaged file is treated as empty (settings are conveniences; the next sync rewrites it).

    Raises:
        SettingsError: something other than a regular file (a directory, a link, a device) is at ``path``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with suppress(FileNotFoundError, NotADirectoryError):
            if not stat.S_ISREG(self.path.lstat().st_mode):
                raise SettingsError(f"{self.path} is not a regular file (a directory, link or device): remove it, "
                                    "or start with another --data-dir")
        self._values: dict[str, str] = {}
        self._dirty = False
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # keys keep their case, as QSettings wrote them
        with suppress(OSError, configparser.Error, UnicodeDecodeError):
            parser.read_string(self.path.read_text(encoding="utf-8"))
            if parser.has_section(_SECTION):
                self._values = dict(parser.items(_SECTION))

    def get(self, key: str, default: Any = None) -> Any:
        """The text of ``key``, or ``default`` when it is not set."""
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` (booleans as ``true``/``false``; written at :meth:`sync`)."""
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if "\n" in text or "\r" in text:
            raise ValueError(f"setting {key} must be one line")
        if self._values.get(key) != text:
            self._values[key] = text
            self._dirty = True

    def sync(self) -> None:
        """Write pending changes to disk (atomically, 0600, in a 0700 directory).

        Raises:
            SettingsError: the file or its directory cannot be written (nothing is half-written).
        """
        if not self._dirty:
            return
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser[_SECTION] = dict(sorted(self._values.items()))
        lines: list[str] = []

        class _Lines:
            def write(self, text: str) -> None:
                lines.append(text)

        parser.write(_Lines())
        try:
            private_directory(self.path.parent)
            write_private(self.path, "".join(lines).encode("utf-8"))
        except OSError as error:
            raise SettingsError(f"the app's settings could not be saved to {self.path}: "
                                f"{error.strerror or error}") from None
        self._dirty = False

    @property
    def profile(self) -> str:
        """The profile last selected ('' when none)."""
        return str(self.get("profile", "") or "")

    @profile.setter
    def profile(self, name: str) -> None:
        self.set("profile", name)

    @property
    def camera(self) -> str:
        """The camera last used ('' when none): a camera index, or an absolute file or folder path."""
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
        """Secure liveness mode: ask for blink, turn left and turn right in a random order instead of waiting for a blink (off unless turned on)."""
        return _flag(self.get("challenge", False), False)

    @challenge.setter
    def challenge(self, on: bool) -> None:
        self.set("challenge", bool(on))

    @property
    def geometry(self) -> bytes:
        """The window geometry (Qt's saveGeometry bytes; empty when none or unreadable)."""
        text = str(self.get("geometry", "") or "")
        if not text.startswith("base64:"):
            return b""  # none, or QSettings' @ByteArray(...) of an earlier version: start at the default size
        try:
            return base64.b64decode(text.removeprefix("base64:"), validate=True)
        except ValueError:
            return b""

    @geometry.setter
    def geometry(self, data: bytes) -> None:
        self.set("geometry", "base64:" + base64.b64encode(bytes(data)).decode("ascii"))


def _flag(value: Any, default: bool) -> bool:
    """A boolean from an INI value (``true``/``false`` as text); ``default`` when unclear."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    return default
