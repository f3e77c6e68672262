"""How many threads torch and OpenCV may use: set once, on purpose, by each entry point.

On a busy 2-core desktop the defaults oversubscribe the cores: torch's OpenMP pool (one thread per core,
spinning while it waits), OpenCV's own pool (one per core) and the app's camera and processing threads all
compete, and ``faceid verify`` on a 78-frame clip took 40-97 s instead of 6 s. So OpenMP's idle threads
sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, read when torch loads its OpenMP runtime, so
:func:`prepare_environment` must run before ``import torch``), OpenCV gets 2 threads (1 on a one-core machine)
and torch 1. SFace on one face is ~55 small operators, and waking a sleeping second OpenMP thread for each
costs more than it gains (benchmarks/latency.py, one chip, float32: 20.7 ms on 1 thread, 37.7 ms on 2
sleeping ones on an Intel Xeon, quiet; 21.7 and 25.8 ms with another process busy; on an AMD Zen 4, 2
threads were no faster than 1), and the second core is left to the camera, OpenCV and the eye check.

``FACEID_THREADS`` (an integer from 1 to :data:`MAX_THREADS`) sets both counts to the same number.
"""

from __future__ import annotations

import os

ENV_VAR = "FACEID_THREADS"
#: The most threads ``FACEID_THREADS`` may ask for: far beyond any core count that helps here (each thread
#: reserves a stack; 999,999 of them made OpenMP run out of memory and the process crash).
MAX_THREADS = 256


def thread_count() -> int:
    """The number of threads torch and OpenCV each get: ``$FACEID_THREADS`` or min(2, cores).

    Raises:
        ValueError: ``FACEID_THREADS`` is set but is not an integer from 1 to :data:`MAX_THREADS` (one line,
            for the user).
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        if not value.isdigit() or not 1 <= int(value) <= MAX_THREADS:
            raise ValueError(f"{ENV_VAR} must be a whole number of threads from 1 to {MAX_THREADS}, got {value!r}")
        return int(value)
    return max(1, min(2, os.cpu_count() or 1))


def prepare_environment() -> None:
    """Make OpenMP threads sleep when idle, unless the user chose otherwise; call before importing torch."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def configure_threads(count: int | None = None) -> int:
    """Set OpenCV's thread pool to ``count`` threads (:func:`thread_count` when None) and torch's to
    ``count`` when given or ``$FACEID_THREADS`` is set, else to 1 (see the module's docstring).

    torch's inter-op pool is set to 1 (nothing here runs independent operators in parallel); it can only be
    set before torch's first parallel work, so a later call leaves it as it is.

    Returns:
        The count applied.

    Raises:
        ValueError: see :func:`thread_count`.
    """
    import cv2
    import torch

    chosen = count is not None or bool(os.environ.get(ENV_VAR, "").strip())
    count = thread_count() if count is None else count
    torch.set_num_threads(count if chosen else 1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already started: the pool keeps its size
    cv2.setNumThreads(count)
    return count
