"""Run one slow call (calibration, loading profiles) in a worker thread and get its result as a signal."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal


class Job(QThread):
    """Calls ``function()`` in a worker thread.

    Signals:
        done(object): the return value.
        failed(str): one line describing the exception raised.
    """

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, function: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._function = function

    def run(self) -> None:  # noqa: D102 (QThread entry point)
        try:
            result = self._function()
        except Exception as error:
            self.failed.emit(f"{type(error).__name__}: {error}" if not str(error) else str(error))
            return
        self.done.emit(result)
