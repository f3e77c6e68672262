"""The ``faceid`` command line, over the same core as the desktop app: one module per command (its
arguments and its handler), :mod:`.main` assembling the parser, :mod:`.common` what several commands share.
"""

from .common import InputError, expand_inputs
from .main import build_parser, main

__all__ = ["InputError", "build_parser", "expand_inputs", "main"]
