"""FaceID Desktop: face unlock through an ordinary webcam.

The core (this package minus ``gui/``) imports no Qt: detection, alignment, the embedding network,
and later verification, training and storage. ``gui/`` and ``cli`` sit on top of it.
"""

__version__ = "0.1.0"
