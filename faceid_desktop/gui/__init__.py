"""The desktop app (PySide6): main window, enrollment wizard, unlock screen and tuning panel.

Everything that imports Qt lives in this package; the core (``faceid_desktop.*``) never imports Qt. The
modules without Qt (``analysis``, ``capture``, ``settings``, ``unlock_logic``) hold pure helpers the
screens are built on, so they can be tested without a window (and moved into the core later).
"""
