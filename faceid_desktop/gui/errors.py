"""The guard that turns an unexpected exception into a one-line message in the window, never a crash or a
traceback on screen (the traceback goes to stderr for bug reports)."""

from __future__ import annotations

import sys
import traceback
from types import TracebackType
from typing import Callable


def one_line(error: BaseException) -> str:
    """An exception as one line for the user: its message, or its type when it has none."""
    text = " ".join(str(error).split())
    return text if text else type(error).__name__


class ExceptionGuard:
    """Installs itself as ``sys.excepthook`` (Qt calls it for exceptions escaping slots and event handlers).

    Args:
        show: called in the GUI thread with one line describing the error (a status line, a message box).

    Use as a context manager, or call :meth:`install` and :meth:`uninstall`; the previous hook is restored.
    """

    def __init__(self, show: Callable[[str], None]) -> None:
        self._show = show
        self._previous = None
        self.count = 0

    def install(self) -> "ExceptionGuard":
        """Become ``sys.excepthook``."""
        self._previous = sys.excepthook
        sys.excepthook = self.hook
        return self

    def uninstall(self) -> None:
        """Restore the previous hook."""
        if self._previous is not None and sys.excepthook == self.hook:
            sys.excepthook = self._previous
        self._previous = None

    def __enter__(self) -> "ExceptionGuard":
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def hook(self, kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        """Show ``error`` in one line; print its traceback to stderr."""
        if issubclass(kind, KeyboardInterrupt):
            if self._previous is not None:
                self._previous(kind, error, tb)
            return
        self.count += 1
        traceback.print_exception(kind, error, tb, file=sys.stderr)
        prefix = "" if isinstance(error, (ValueError, OSError)) else "unexpected error: "
        try:
            self._show(prefix + one_line(error))
        except Exception:  # the window may be gone; stderr has the traceback
            pass
